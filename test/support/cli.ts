import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DETOUR_ENTRY = fileURLToPath(new URL('../../bin/detour.ts', import.meta.url));

/** Arguments that run the real `detour` entry point from source with the test's Node. */
export function detourArgv(args: string[]): string[] {
  return ['--import', 'tsx', DETOUR_ENTRY, ...args];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `detour ARGS` to completion (bounded by `timeoutMs`) and collects its output. */
export function runDetour(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, detourArgv(args), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 20_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * `detour proxy` flags that bind every listener (proxy, admin, DNS) to a free port on
 * 127.0.0.1, so a test's proxy never collides with another run on the well-known ports.
 */
export const LOOPBACK_EPHEMERAL_PROXY_FLAGS: readonly string[] = [
  '--listen',
  '0',
  '--admin-port',
  '0',
  '--dns-port',
  '0',
  '--listen-host',
  '127.0.0.1',
  '--admin-host',
  '127.0.0.1',
];
