import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

let bundles: string | undefined;

/**
 * The image's dist/ (scripts/build.ts), built once per process into a temporary
 * directory that goes away with the process. `DETOUR_BUNDLE_DIR` names a build to use
 * instead (e.g. `npm run build`'s dist/), so several test runs can share one.
 */
export function bundleDir(): string {
  if (bundles !== undefined) return bundles;
  const prebuilt = process.env.DETOUR_BUNDLE_DIR ?? '';
  if (prebuilt !== '') return (bundles = prebuilt);
  const dir = mkdtempSync(join(tmpdir(), 'detour-bundle-'));
  // The netns harness runs the proxy as UID 1337: it must be able to read the bundles.
  chmodSync(dir, 0o755);
  process.once('exit', () => {
    rmSync(dir, { recursive: true, force: true });
  });
  execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/build.ts'), dir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return (bundles = dir);
}

/**
 * Arguments that run `detour ARGS` with the test's Node exactly as the image does: the
 * bundled dist/detour.js, or for `proxy` the bundle the webhook injects
 * (`command: [detour-proxy]`, webhook/sidecar-containers.ts).
 */
export function detourArgv(args: string[]): string[] {
  const entry = args[0] === 'proxy' ? 'detour-proxy.js' : 'detour.js';
  return [join(bundleDir(), entry), ...args];
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
 * `detour proxy` flags that bind every listener (proxy, admin, DNS) to 127.0.0.1: on the
 * given proxy and admin ports (the benchmark's fixed ones), else on free ports, so a
 * test's proxy never collides with another run on the well-known ports.
 */
export function loopbackProxyFlags(listen = 0, admin = 0): string[] {
  return [
    '--listen',
    String(listen),
    '--admin-port',
    String(admin),
    '--dns-port',
    '0',
    '--listen-host',
    '127.0.0.1',
    '--admin-host',
    '127.0.0.1',
  ];
}

export const LOOPBACK_EPHEMERAL_PROXY_FLAGS: readonly string[] = loopbackProxyFlags();
