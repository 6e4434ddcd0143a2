import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCE_FOLDERS } from '../../scripts/build/bundles.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

let bundles: string | undefined;

/**
 * The image's dist/ (scripts/build.ts), built once per state of the sources and cached
 * in the temporary directory, keyed by a digest of every file the build reads, so test
 * processes and runs share one build. `DETOUR_BUNDLE_DIR` names a build to use instead
 * (e.g. `npm run build`'s dist/).
 */
export function bundleDir(): string {
  if (bundles !== undefined) return bundles;
  const prebuilt = process.env.DETOUR_BUNDLE_DIR ?? '';
  if (prebuilt !== '') return (bundles = prebuilt);
  const dir = join(tmpdir(), `detour-bundle-${sourceDigest()}`);
  if (!existsSync(join(dir, 'detour.js'))) {
    // Built beside, then renamed into place: concurrent processes never see half a build.
    const staging = mkdtempSync(`${dir}-staging-`);
    try {
      execFileSync(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'scripts/build.ts'), staging],
        { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
      );
      // The netns harness runs the proxy as UID 1337: it must be able to read the bundles.
      chmodSync(staging, 0o755);
      renameSync(staging, dir);
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      // Another process renamed its build into place first: use that one.
      if (!existsSync(join(dir, 'detour.js'))) throw err;
    }
  }
  return (bundles = dir);
}

/** A digest of what the build reads: the bundled folders, the build script, the lockfile. */
function sourceDigest(): string {
  const hash = createHash('sha256');
  const roots = [...SOURCE_FOLDERS, 'scripts/build.ts', 'scripts/build', 'package-lock.json'];
  for (const root of roots) {
    const path = join(REPO_ROOT, root);
    const files = statSync(path).isDirectory()
      ? readdirSync(path, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
          .sort()
      : [path];
    for (const file of files) hash.update(file).update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
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
