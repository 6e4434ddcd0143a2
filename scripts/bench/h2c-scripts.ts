/**
 * The two processes of the proxy bench's h2c rows, as scripts written next to the built
 * proxy (so `@grpc/grpc-js` resolves from its node_modules): a real gRPC server
 * answering one unary method, and a load generator that keeps `concurrency` unary calls
 * in flight on one HTTP/2 connection (what one gRPC channel does) for `seconds`, and
 * prints `{requests, failed, p50, p99}` as JSON. A raw node:http2 client, not grpc-js:
 * the load generator shares a CPU with the server and should cost it as little as possible.
 */
export const GRPC_PATH = '/bench.Echo/Unary';

export function grpcServerScript(port: number): string {
  return `import * as grpc from '@grpc/grpc-js';
const raw = (b) => b;
const server = new grpc.Server();
server.addService(
  { unary: { path: '${GRPC_PATH}', requestStream: false, responseStream: false,
    requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
  { unary: (call, done) => done(null, call.request) },
);
server.bindAsync('127.0.0.1:${port}', grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) { console.error(err); process.exit(1); }
});
`;
}

export function grpcLoadScript(): string {
  return `import http2 from 'node:http2';
import net from 'node:net';
const [port, authority, seconds, concurrency] = process.argv.slice(2);
const session = http2.connect('http://127.0.0.1:' + port, {
  createConnection: () => net.connect({ host: '127.0.0.1', port: Number(port), noDelay: true }),
});
session.on('error', (err) => { console.error(err); process.exit(1); });
// One gRPC message: not compressed, 5 bytes, "hello".
const body = Buffer.from([0, 0, 0, 0, 5, 104, 101, 108, 108, 111]);
const headers = { ':method': 'POST', ':path': '${GRPC_PATH}', ':authority': authority,
  'content-type': 'application/grpc', te: 'trailers' };
const end = performance.now() + Number(seconds) * 1000;
const latencies = [];
let failed = 0;
let active = Number(concurrency);
function one() {
  const t0 = performance.now();
  const req = session.request(headers);
  let status;
  req.on('response', (h) => { if (h['grpc-status'] !== undefined) status = h['grpc-status']; });
  req.on('trailers', (t) => { status = t['grpc-status']; });
  req.on('data', () => {});
  req.on('error', () => {});
  req.on('close', () => {
    if (status === '0') latencies.push(performance.now() - t0); else failed++;
    if (performance.now() < end) one();
    else if (--active === 0) finish();
  });
  req.end(body);
}
function finish() {
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(JSON.stringify({ requests: latencies.length, failed, p50: at(0.5), p99: at(0.99) }));
  session.close();
}
for (let i = 0; i < active; i++) one();
`;
}
