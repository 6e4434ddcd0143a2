/**
 * `npm run demo`: the seed's example end to end on one machine, no cluster needed.
 *
 * It narrates what a user of a real cluster would do and see:
 *   1. `detour inject` adds the init container and the sidecar to my-other-application;
 *   2. two replicas of my-application serve /nodejs on their "pod IPs" (127.0.0.11/.12);
 *   3. `detour proxy` routes from the same objects (manifests/examples/seed/cluster.yaml);
 *   4. the app's plain-hostname calls go through the proxy: round robin, 404, passthrough;
 *   5. an API-key Secret is added to the objects file: the proxy reloads and enforces it;
 *   6. what `kubectl logs ... -c detour-proxy` and `detour routes` would print.
 *
 * As root with iptables and iproute2 it shows real capture in network namespaces
 * (scripts/demo-capture.ts); otherwise it says so and uses proxy-env mode on loopback,
 * the mode detour offers where NET_ADMIN is forbidden. Everything it starts is stopped
 * and every temporary file removed before it exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, ProxyAgent } from 'undici';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE = join(ROOT, 'manifests/examples/seed');
const DETOUR = ['--import', 'tsx', join(ROOT, 'bin/detour.ts')];
const APP_URL = 'http://my-application.my-namespace/nodejs';
/** Loopback ports the demo proxy takes; far from the well-known 15000/15001 on purpose. */
const PROXY_PORT = 25001;
const ADMIN_PORT = 25000;
const DNS_PORT = 25053;
const API_KEY = 'supersecret';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

function step(n: number, title: string): void {
  process.stdout.write(`\n${bold(`── ${n}. ${title}`)}\n`);
}
function say(text: string): void {
  process.stdout.write(`${text}\n`);
}
function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}

/** Runs `detour ARGS` to completion and returns stdout (throws with stderr on failure). */
function detour(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, [...DETOUR, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) {
    throw new Error(`detour ${args.join(' ')} failed (exit ${r.status ?? 'signal'}):\n${r.stderr}`);
  }
  return r.stdout;
}

/** A replica of my-application: says which pod answered and what it was asked. */
function startReplica(ip: string, pod: string): Promise<Server> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ pod, path: req.url, host: req.headers.host });
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(3000, ip, () => {
      resolve(server);
    });
  });
}

interface RunningProxy {
  child: ChildProcess;
  logLines: string[];
}

function startProxy(objectsFile: string): RunningProxy {
  const child = spawn(
    process.execPath,
    [
      ...DETOUR,
      'proxy',
      '--mode',
      'sidecar',
      '--source',
      `file:${objectsFile}`,
      '--listen-host',
      '127.0.0.1',
      '--listen',
      String(PROXY_PORT),
      '--admin-port',
      String(ADMIN_PORT),
      '--dns-port',
      String(DNS_PORT),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logLines: string[] = [];
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    logLines.push(...lines.filter((l) => l.length > 0));
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    process.stderr.write(dim(chunk));
  });
  return { child, logLines };
}

async function waitReady(child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the proxy exited with code ${child.exitCode}`);
    try {
      const res = await request(`http://127.0.0.1:${ADMIN_PORT}/ready`);
      await res.body.text();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the proxy did not become ready within 20 s');
}

/** The app's call, as an HTTP_PROXY-honouring client (curl, Python, Go) makes it. */
async function appCall(
  agent: ProxyAgent,
  url: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await request(url, { dispatcher: agent, headers });
  const body = (await res.body.text()).trim();
  return `${res.statusCode} ${body}`;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

function captureAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const ok = (cmd: string, args: string[]): boolean =>
    spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  return ok('iptables', ['--version']) && ok('ip', ['netns', 'list']);
}

async function main(): Promise<void> {
  say(bold('detour demo: the seed example, end to end, on this machine'));
  say(
    dim('my-other-application calls http://my-application.my-namespace/nodejs by plain hostname;'),
  );
  say(dim('its sidecar routes the call to a ready my-application pod. No cluster needed.'));

  step(1, 'detour inject: what the webhook adds to my-other-application');
  say(`$ detour inject -f manifests/examples/seed/my-other-application.yaml`);
  const original = join(EXAMPLE, 'my-other-application.yaml');
  const injected = detour(['inject', '-f', original]);
  const work = mkdtempSync(join(tmpdir(), 'detour-demo-'));
  const resources: { servers: Server[]; proxy?: RunningProxy; agent?: ProxyAgent } = {
    servers: [],
  };
  try {
    const injectedFile = join(work, 'my-other-application.injected.yaml');
    appendFileSync(injectedFile, injected);
    const diff = spawnSync('diff', ['-u', original, injectedFile], { encoding: 'utf8' });
    say(indent(diff.stdout === '' ? injected : diff.stdout.split('\n').slice(2).join('\n')));

    step(2, 'two replicas of my-application serve /nodejs on their pod IPs');
    for (const [ip, pod] of [
      ['127.0.0.11', 'my-application-7d4b9c8f6-abcde'],
      ['127.0.0.12', 'my-application-7d4b9c8f6-fghij'],
    ] as const) {
      resources.servers.push(await startReplica(ip, pod));
      say(`   ${pod} listening on ${ip}:3000`);
    }

    step(3, 'detour proxy routes from the cluster objects (the file source)');
    const objects = join(work, 'cluster.yaml');
    copyFileSync(join(EXAMPLE, 'cluster.yaml'), objects);
    say(
      `$ detour proxy --source file:manifests/examples/seed/cluster.yaml --listen ${PROXY_PORT} --admin-port ${ADMIN_PORT}`,
    );
    const proxy = startProxy(objects);
    resources.proxy = proxy;
    await waitReady(proxy.child);
    say(`   ready: GET http://127.0.0.1:${ADMIN_PORT}/ready -> 200`);

    const capture = captureAvailable();
    step(4, "the app's plain-hostname calls");
    if (capture) {
      say(
        dim(
          '   (root with iptables: scripts/demo-capture.ts shows iptables capture in network namespaces;',
        ),
      );
      say(dim('    here the calls use proxy-env mode so the demo runs the same everywhere)'));
    } else {
      say(
        dim(
          '   (not root or no iptables here: using proxy-env mode, the capture mode for clusters',
        ),
      );
      say(dim('    that forbid NET_ADMIN: the app gets HTTP_PROXY=http://127.0.0.1:15001)'));
    }
    const agent = new ProxyAgent(`http://127.0.0.1:${PROXY_PORT}`);
    resources.agent = agent;
    for (let i = 0; i < 4; i++) {
      say(`   GET ${APP_URL}/hello -> ${await appCall(agent, `${APP_URL}/hello`)}`);
    }
    const unknownPath = 'http://my-application.my-namespace/python';
    say(`   GET ${unknownPath} -> ${await appCall(agent, unknownPath)}`);
    say(dim('   (known host, unknown path: 404, as the seed router answered)'));

    step(5, 'an API key for my-namespace: add the routing Secret, the proxy reloads');
    appendFileSync(
      objects,
      [
        '---',
        'apiVersion: v1',
        'kind: Secret',
        'metadata: { name: routing, namespace: my-namespace }',
        `data: { private-api-key: ${Buffer.from(API_KEY).toString('base64')} }`,
        '',
      ].join('\n'),
    );
    say(
      `$ kubectl create secret generic routing --from-literal=private-api-key=${API_KEY} -n my-namespace`,
    );
    await waitFor(
      async () => (await appCall(agent, `${APP_URL}/hello`)).startsWith('403'),
      'the proxy to enforce the API key',
    );
    say(`   GET ${APP_URL}/hello -> ${await appCall(agent, `${APP_URL}/hello`)}`);
    say(
      `   GET ${APP_URL}/hello  X-ROUTING-API-KEY: ${Buffer.from(API_KEY).toString('base64')} -> ${await appCall(
        agent,
        `${APP_URL}/hello`,
        { 'x-routing-api-key': Buffer.from(API_KEY).toString('base64') },
      )}`,
    );

    step(6, 'kubectl logs my-other-application -c detour-proxy (the access log)');
    for (const line of proxy.logLines.filter((l) => l.includes('"method"'))) {
      say(`   ${line}`);
    }

    step(7, 'detour routes: the table, and why a URL goes where it goes');
    say(`$ detour routes --admin http://127.0.0.1:${ADMIN_PORT}`);
    say(indent(detour(['routes', '--admin', `http://127.0.0.1:${ADMIN_PORT}`])));
    say(`$ detour routes --admin http://127.0.0.1:${ADMIN_PORT} --explain ${APP_URL}/hello`);
    say(
      indent(
        detour([
          'routes',
          '--admin',
          `http://127.0.0.1:${ADMIN_PORT}`,
          '--explain',
          `${APP_URL}/hello`,
        ]),
      ),
    );

    step(8, 'clean up');
    await agent.close();
    delete resources.agent;
    const code = await stopChild(proxy.child);
    delete resources.proxy;
    say(`   proxy drained on SIGTERM and exited with code ${code ?? 'signal'}`);
    if (code !== 0) throw new Error(`the proxy exited with ${code ?? 'a signal'} on SIGTERM`);
  } finally {
    await resources.agent?.close();
    if (resources.proxy !== undefined) await stopChild(resources.proxy.child);
    await Promise.all(
      resources.servers.map(
        (s) =>
          new Promise<void>((resolve) =>
            s.close(() => {
              resolve();
            }),
          ),
      ),
    );
    rmSync(work, { recursive: true, force: true });
  }
  say(bold('\ndone: everything the demo started has stopped.'));
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
