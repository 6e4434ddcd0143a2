/**
 * Load generators of the proxy benchmark, both pinned to the load CPU: wrk for
 * saturation and the 1 KiB soak, and fixed-rate-client.ts for a fixed request rate.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LOAD_CPU } from './processes.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXED_CLIENT = fileURLToPath(new URL('./fixed-rate-client.ts', import.meta.url));

export const CONNECTIONS = 50;

export interface WrkResult {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
}

/**
 * wrk -t1 -c50 for `seconds` against http://127.0.0.1:PORT/bench with Host `host`;
 * `bodyScript` (from postScript) makes every request a POST with that body.
 */
export async function wrk(
  port: number,
  host: string,
  seconds: number,
  bodyScript?: string,
): Promise<WrkResult> {
  const { stdout: out } = await exec(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      'wrk',
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--latency',
      '-H',
      `Host: ${host}`,
      ...(bodyScript === undefined ? [] : ['-s', bodyScript]),
      `http://127.0.0.1:${port}/bench`,
    ],
    { encoding: 'utf8' },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (non2xx > 0 || requests === 0) throw new Error(`bench: bad answers on port ${port}:\n${out}`);
  return { rps, requests, p50: percentile(out, '50%'), p99: percentile(out, '99%') };
}

/** A wrk script that sends every request as a POST of `bytes` bytes. */
export function postScript(dir: string, bytes: number): string {
  const path = join(dir, `post-${bytes}.lua`);
  writeFileSync(
    path,
    `wrk.method = "POST"\nwrk.body = string.rep("x", ${bytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
  );
  return path;
}

function percentile(out: string, label: string): number {
  const match = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
  if (match === null) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

export interface FixedResult {
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

/** `rate` GET requests per second for `seconds`, from a process pinned to the load CPU. */
export async function fixedRate(
  port: number,
  host: string,
  rate: number,
  seconds: number,
): Promise<FixedResult> {
  const { stdout } = await exec(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      process.execPath,
      '--import',
      'tsx',
      FIXED_CLIENT,
      String(port),
      host,
      String(rate),
      String(seconds),
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const result = JSON.parse(stdout) as FixedResult;
  if (result.errors > 0) throw new Error(`bench: ${result.errors} failed requests on ${port}`);
  return result;
}
