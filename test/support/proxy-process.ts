import { spawn, type ChildProcess } from 'node:child_process';
import { detourArgv, REPO_ROOT } from './cli.js';

/** A running `detour proxy` child with its stdout lines. */
export interface ProxyProcess {
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  proxy: string;
  admin: string;
  exited: Promise<number | null>;
}

/**
 * Starts the real `detour proxy` CLI (outside a cluster: KUBERNETES_SERVICE_HOST empty)
 * and resolves once it logged `ready`, with the proxy's and admin's origins read from
 * its start line. Stopping it is the caller's job (`child.kill`, then `exited`).
 */
export async function startProxyProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<ProxyProcess> {
  const child = spawn(process.execPath, detourArgv(['proxy', ...args]), {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBERNETES_SERVICE_HOST: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const start = lines.find((l) => l.includes('detour proxy starting'));
    const ready = lines.some((l) => /"msg":"ready"| INFO ready/.test(l));
    if (start !== undefined && ready) {
      const listen = /"?listen"?[=:]"?([\d.]+:\d+)/.exec(start)?.[1] ?? '';
      const admin = /"?admin"?[=:]"?([\d.]+:\d+)/.exec(start)?.[1] ?? '';
      return {
        child,
        lines,
        stderr: () => err,
        proxy: `http://${listen}`,
        admin: `http://${admin}`,
        exited,
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`detour proxy did not become ready:\n${lines.join('\n')}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
