import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { InjectedPod } from '../../test/support/seed-example.js';

/**
 * Where `npm run demo` runs the seed's example: real capture in network namespaces
 * (netns-stage.ts) or proxy-env mode on loopback (loopback-stage.ts). scripts/demo.ts
 * narrates the same steps on either; a stage only knows how to start things, call, and
 * clean up. Every method that narrates returns its lines instead of printing them.
 */
export interface DemoStage {
  /** Step 2: starts my-application's two replicas. */
  startReplicas(): Promise<string[]>;
  /** Step 3: the seed's cluster objects with this stage's pod IPs. */
  clusterYaml(): string;
  /** Step 3: makes my-other-application's pod (init, then sidecar) routing from `clusterFile`. */
  startSidecar(pod: InjectedPod, clusterFile: string): Promise<string[]>;
  /** Step 4: how the app resolves `host`, when its lookups are captured (else undefined). */
  lookup(host: string): Promise<string | undefined>;
  /** The app's call, as the app makes it (curl, or node's fetch without curl). */
  call(url: string, headers?: readonly string[]): Promise<HttpReply>;
  /** The shell command a user would type for `call(url, headers)`. */
  callCommand(url: string, headers?: readonly string[]): string;
  /** The sidecar's stdout lines so far (`kubectl logs ... -c detour-proxy`). */
  sidecarLog(): string[];
  /**
   * Step 8: starts the API-management example's service (api-manager.mjs) where the
   * sidecar can call it; its forwardAuth URL on this stage.
   */
  startApiManager(consumers: Readonly<Record<string, string>>): Promise<ApiManager>;
  /** Runs `detour routes ARGS` where the sidecar's admin port is reachable; its stdout. */
  routes(args: readonly string[]): Promise<string>;
  /** How `detour routes` is typed on this stage. */
  readonly routesCommand: string;
  /** SIGTERM to the sidecar; resolves with its exit code once it drained. */
  stopSidecar(): Promise<number | null>;
  /** Stops everything still running and removes what the stage made; safe to call twice. */
  cleanup(): Promise<string[]>;
}

export interface HttpReply {
  status: number;
  body: string;
  /** Lower-case names; the last value of a repeated header. */
  headers: Record<string, string>;
}

export interface ApiManager {
  /** Where the sidecar reaches /check on this stage (in a cluster: the Service's name). */
  checkUrl: string;
  lines: string[];
  /** Its stdout lines so far (`kubectl logs -n apim deploy/api-manager`). */
  log(): string[];
}

/** The example's service, run as it is in the cluster (manifests/examples/api-management). */
export const API_MANAGER_SCRIPT = 'manifests/examples/api-management/api-manager.mjs';

/** argv and env of api-manager listening on `host:port` with `consumers`. */
export function apiManagerCommand(
  script: string,
  host: string,
  port: number,
  consumers: Readonly<Record<string, string>>,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  return {
    argv: [process.execPath, script],
    env: {
      HOST: host,
      PORT: String(port),
      API_MANAGER_KEY_HEADER: 'x-api-key',
      API_MANAGER_CONSUMERS: JSON.stringify(consumers),
    },
  };
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A process whose output is collected as it arrives. */
export interface Started {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
}

export const hasCommand = (command: string, args: string[] = ['--version']): boolean =>
  spawnSync(command, args, { stdio: 'ignore' }).status === 0;

/** Starts `argv` with output collection (stdin closed). */
export function start(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Started {
  const [command, ...args] = argv;
  if (command === undefined) throw new Error('nothing to start');
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, stdout: () => out, stderr: () => err };
}

/** Runs `argv` to completion, killed after `timeoutMs`. */
export function exec(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<ExecResult> {
  const proc = start(argv, env);
  return collect(proc, timeoutMs);
}

/** Waits for a started process to finish (SIGKILL after `timeoutMs`). */
export function collect(proc: Started, timeoutMs = 30_000): Promise<ExecResult> {
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    proc.child.once('error', reject);
    proc.child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: proc.stdout(), stderr: proc.stderr() });
    });
  });
}

/** Sends SIGTERM and waits for the exit (SIGKILL after 10 s); the exit code. */
export function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/** Polls `check` every 100 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** Waits for the sidecar's /ready, polled with `probe` (an app call to the admin port). */
export async function waitSidecarReady(
  sidecar: Started,
  probe: () => Promise<ExecResult>,
): Promise<void> {
  await waitUntil(
    'the sidecar to be ready',
    async () => {
      if (sidecar.child.exitCode !== null) {
        throw new Error(`the sidecar exited: ${sidecar.stderr()}${sidecar.stdout()}`);
      }
      const ready = await probe();
      return ready.code === 0 && ready.stdout.endsWith('200');
    },
    60_000,
  );
}

/** Clears any proxy settings of the shell the demo runs from, so only the stage's count. */
export const NO_PROXY_ENV: NodeJS.ProcessEnv = {
  http_proxy: '',
  HTTP_PROXY: '',
  https_proxy: '',
  HTTPS_PROXY: '',
  no_proxy: '',
  NO_PROXY: '',
  NODE_USE_ENV_PROXY: '',
};

/**
 * argv of an app call printing the body, a newline and the status: curl when installed,
 * else node:http. Not fetch: with NODE_USE_ENV_PROXY=1 Node 24's fetch tunnels even
 * http:// URLs through CONNECT, which the sidecar passes through unrouted, while node:http
 * sends the absolute-form request (`GET http://host/path`) that proxy-env mode routes.
 */
export function appCallArgv(url: string, headers: readonly string[], useCurl: boolean): string[] {
  if (useCurl) {
    const h = headers.flatMap((header) => ['-H', header]);
    // -D -: the response head first, then the body, then the status.
    return ['curl', '-sS', '--max-time', '15', '-D', '-', '-w', '\n%{http_code}', ...h, url];
  }
  const script = `const [url, ...hs] = process.argv.slice(1); const headers = Object.fromEntries(hs.map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()])); require('node:http').get(url, { headers, timeout: 15000 }, (r) => { let body = ''; let head = 'HTTP/1.1 ' + r.statusCode + '\\r\\n'; for (let i = 0; i < r.rawHeaders.length; i += 2) head += r.rawHeaders[i] + ': ' + r.rawHeaders[i + 1] + '\\r\\n'; r.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => process.stdout.write(head + '\\r\\n' + body + '\\n' + r.statusCode)); }).on('timeout', function () { this.destroy(new Error('timed out')); }).on('error', (e) => { console.error(String(e)); process.exit(7); });`;
  return [process.execPath, '-e', script, url, ...headers];
}

/** Parses appCallArgv's output; throws with the client's stderr when the call failed. */
export function parseAppCall(url: string, result: ExecResult): HttpReply {
  if (result.code !== 0) {
    throw new Error(
      `the app's call to ${url} failed (exit ${result.code ?? 'signal'}): ${result.stderr.trim()}`,
    );
  }
  const end = result.stdout.indexOf('\r\n\r\n');
  const head = end === -1 ? '' : result.stdout.slice(0, end);
  const lines = result.stdout
    .slice(end === -1 ? 0 : end + 4)
    .trimEnd()
    .split('\n');
  const status = Number(lines.pop());
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, body: lines.join('\n').trim(), headers };
}

/** How a call is shown: `curl [-H 'H: v'] URL`, or node:http's equivalent without curl. */
export function appCallCommand(url: string, headers: readonly string[], useCurl: boolean): string {
  if (useCurl) return ['curl', ...headers.map((h) => `-H '${h}'`), url].join(' ');
  const h = headers.length === 0 ? '' : ` with ${headers.join(', ')}`;
  return `node -e "http.get('${url}')"${h}`;
}
