/**
 * The processes of the proxy benchmark: started pinned to a CPU with taskset, measured
 * from /proc (CPU ticks, RSS), stopped (with nginx's workers) at the end.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'undici';

/** The proxy under test gets CPU 0; upstream and load generators share the other. */
export const PROXY_CPU = process.env.BENCH_PROXY_CPU ?? '0';
export const LOAD_CPU = process.env.BENCH_LOAD_CPU ?? '1';

const children: ChildProcess[] = [];

/** `command args` pinned to `cpu`, its output appended to the file `out`. */
export function launch(
  cpu: string,
  command: string,
  args: string[],
  out: string,
  env: NodeJS.ProcessEnv = {},
  wrapper: string[] = [],
): ChildProcess {
  const fd = openSync(out, 'a');
  const [first = 'taskset', ...rest] = [...wrapper, 'taskset', '-c', cpu, command, ...args];
  const child = spawn(first, rest, {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  children.push(child);
  return child;
}

/** Stops every process this benchmark started that is still running. */
export async function stopAll(): Promise<void> {
  for (const child of children) await stop(child);
}

/**
 * SIGTERM, then SIGKILL after 5 s. nginx's workers are killed too if they outlive their
 * master: a SIGKILLed master leaves them running (and holding the port).
 */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const workers = pidsOf(child.pid).slice(1);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
  for (const pid of workers) {
    try {
      // Only if the pid is still that worker (pids are reused).
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nginx: worker')) {
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // already gone, as it should be
    }
  }
}

/** A leftover process on a bench port would silently stand in for the real one. */
export async function assertPortsFree(ports: number[]): Promise<void> {
  for (const port of ports) {
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', () => {
        reject(new Error(`bench: port 127.0.0.1:${port} is taken; is an earlier run still alive?`));
      });
      probe.listen(port, '127.0.0.1', () => {
        probe.close(() => {
          resolve();
        });
      });
    });
  }
}

/** Polls until `port` answers `path` below 500; resolves with the time it took. */
export async function waitHttp(
  port: number,
  path: string,
  host: string,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<number> {
  const start = performance.now();
  for (;;) {
    try {
      // undici's request, not fetch: fetch may not set Host.
      const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { host } });
      await res.body.dump();
      if (res.statusCode < 500) return performance.now() - start;
    } catch {
      // not listening yet
    }
    if (performance.now() - start > timeoutMs) {
      throw new Error(`bench: port ${port}${path} not ready in time`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A process and its children (nginx: the master and its workers). */
export function pidsOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    const kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
    return [pid, ...kids];
  } catch {
    return [pid];
  }
}

const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU seconds of the processes so far. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
  }
  return ticks / HZ;
}

/** Resident set size of the processes, in MB (2^20 bytes). */
export function rssMb(pids: number[]): number {
  return statusKb(pids, 'VmRSS') / 1024;
}

/**
 * The anonymous part of the RSS (heap, stacks, buffers): what each pod pays alone. The
 * rest maps files (the node binary), whose pages the kernel shares between processes.
 */
export function anonMb(pids: number[]): number {
  return statusKb(pids, 'RssAnon') / 1024;
}

/**
 * How many times the processes' main threads have gone to sleep and been woken (their
 * voluntary context switches): an idle proxy that wakes up often (a sampling timer)
 * costs CPU in every pod even with no traffic.
 */
export function wakeups(pids: number[]): number {
  return statusKb(pids, 'voluntary_ctxt_switches');
}

/** A numeric field of /proc/PID/status (kB for memory fields), summed over `pids`. */
function statusKb(pids: number[], field: string): number {
  let kb = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    kb += Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  }
  return kb;
}
