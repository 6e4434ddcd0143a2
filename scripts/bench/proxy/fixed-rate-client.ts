/**
 * The fixed-rate load of the proxy benchmark, run as its own process so it can be
 * pinned to the load CPU (load.ts): open loop, a request started every 1/rate s whatever
 * the previous ones do (so slow answers do not lower the rate; wrk2 is not packaged).
 * Prints `{ p50, p99, requests, errors }` (ms) as JSON on stdout.
 *
 * Usage: fixed-rate-client.ts PORT HOST RATE SECONDS
 */
import { Pool } from 'undici';

const [port = '', host = '', rateText = '', secondsText = ''] = process.argv.slice(2);
const rate = Number(rateText);
const total = rate * Number(secondsText);
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 32, pipelining: 1 });
const latencies: number[] = [];
let errors = 0;
const start = performance.now();
const pending: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const wait = start + (i * 1000) / rate - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const t0 = performance.now();
  pending.push(
    pool.request({ path: '/bench', method: 'GET', headers: { host } }).then(
      async (res) => {
        await res.body.dump();
        if (res.statusCode === 200) latencies.push(performance.now() - t0);
        else errors++;
      },
      () => {
        errors++;
      },
    ),
  );
}
await Promise.all(pending);
await pool.close();
latencies.sort((a, b) => a - b);
const at = (q: number): number =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
process.stdout.write(
  JSON.stringify({ p50: at(0.5), p99: at(0.99), requests: latencies.length, errors }) + '\n',
);
