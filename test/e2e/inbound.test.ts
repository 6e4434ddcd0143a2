import { expect } from 'chai';
import { eventually } from '../support/eventually.js';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { detourArgv, runDetour } from '../support/cli.js';
import {
  NetnsLab,
  netnsUnavailable,
  type NetnsPod,
  type NetnsProcess,
  accessLines,
} from '../support/netns.js';
import { SEED_DIR, echoServerArgv, parseInjectedPod } from '../support/seed-example.js';

/**
 * Enforce at the destination (issue 10), end to end with real capture: my-application's
 * pod is injected by the real `detour inject` (inbound capture on by default, probes
 * rewritten), its init container's iptables rules and its proxy (UID 1337) run in the
 * pod's network namespace, and:
 * - a pod without a sidecar dialling the pod IP directly meets the API key (403, then
 *   200 with the key, which the app never sees);
 * - a raw TCP port the app declares passes through byte for byte;
 * - the rewritten probes answer from the admin port while the app serves, and fail when
 *   it stops;
 * - an injected caller's call by plain hostname is logged on both sides, with direction.
 *
 * Addresses (198.18.0.0/24, RFC 2544): .31 destination, .32 bare caller, .33 injected
 * caller, .1 bridge (plays the kubelet).
 */
const APP_UID = 1000;
const PROXY_UID = 1337;
const DEST_IP = '198.18.0.31';
const HOST = 'my-application.my-namespace';
const API_KEY = 'e2e-inbound-key';
const DEST_POD = 'my-application-7d4b9c8f6-inbnd';

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  readinessProbe?: unknown;
  livenessProbe?: unknown;
}

/** The injected my-application: init and proxy args, the proxy's literal env, the probes. */
interface InjectedDestination {
  initArgs: string[];
  proxyArgs: string[];
  proxyEnv: Record<string, string>;
  readinessProbe: { httpGet?: { path?: string; port?: number } } | undefined;
  status: string;
}

function clusterYaml(status: string): string {
  return `apiVersion: v1
kind: Namespace
metadata:
  name: my-namespace
---
apiVersion: v1
kind: Pod
metadata:
  name: ${DEST_POD}
  namespace: my-namespace
  creationTimestamp: '2024-01-01T00:00:00Z'
  labels: { app: my-application, routable: 'true' }
  annotations:
    privateHosts: ${HOST}
    privatePaths: 3000:/nodejs 50051:/detour.test.Echo
    detour.dev/status: '${status}'
spec:
  containers:
    - name: my-application
      image: node:24-slim
      ports:
        - { name: http, containerPort: 3000 }
        - { name: db, containerPort: 5432 }
        - { name: grpc, containerPort: 50051 }
status:
  phase: Running
  podIP: ${DEST_IP}
  podIPs: [{ ip: ${DEST_IP} }]
  conditions: [{ type: Ready, status: 'True' }]
---
apiVersion: v1
kind: Secret
metadata:
  name: routing
  namespace: my-namespace
type: Opaque
stringData:
  private-api-key: ${API_KEY}
`;
}

async function injectDestination(dir: string): Promise<InjectedDestination> {
  const seed = readFileSync(join(SEED_DIR, 'my-application.yaml'), 'utf8');
  const deployment = parseAllDocuments(seed)[0]!.toJS() as {
    spec: {
      template: {
        metadata: { labels?: Record<string, string> };
        spec: { containers: { ports?: { name?: string; containerPort: number }[] }[] };
      };
    };
  };
  const template = deployment.spec.template;
  template.metadata.labels = { ...template.metadata.labels, 'detour.dev/inject': 'true' };
  const app = template.spec.containers[0]!;
  app.ports = [
    ...(app.ports ?? []),
    { name: 'db', containerPort: 5432 },
    { name: 'grpc', containerPort: 50051 },
  ];
  const file = join(dir, 'my-application.yaml');
  writeFileSync(file, stringify(deployment));
  const result = await runDetour(['inject', '-f', file], { timeoutMs: 60_000 });
  expect(result.code, result.stderr).to.equal(0);
  const injected = parseAllDocuments(result.stdout)[0]!.toJS() as {
    spec: {
      template: {
        metadata: { annotations: Record<string, string> };
        spec: { initContainers?: Container[]; containers: Container[] };
      };
    };
  };
  const spec = injected.spec.template.spec;
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const init = all.find((c) => c.name === 'detour-init');
  const proxy = all.find((c) => c.name === 'detour-proxy');
  const appContainer = spec.containers.find((c) => c.name === 'my-application');
  if (init?.args === undefined || proxy?.args === undefined) {
    throw new Error('detour inject added no detour-init or detour-proxy');
  }
  const proxyEnv: Record<string, string> = {};
  for (const e of proxy.env ?? []) if (e.value !== undefined) proxyEnv[e.name] = e.value;
  return {
    initArgs: init.args,
    proxyArgs: proxy.args,
    proxyEnv,
    readinessProbe: appContainer?.readinessProbe as InjectedDestination['readinessProbe'],
    status: injected.spec.template.metadata.annotations['detour.dev/status'] ?? '',
  };
}

/** argv of a raw TCP echo server on 0.0.0.0:port (the "database" port). */
function tcpEchoArgv(port: number): string[] {
  const script = `require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${port}, '0.0.0.0', () => console.log('listening'));`;
  return [process.execPath, '-e', script];
}

/** @grpc/grpc-js, by absolute path: the scripts below run from no package of their own. */
const GRPC_JS = fileURLToPath(new URL('../../node_modules/@grpc/grpc-js', import.meta.url));
const ECHO_METHOD = `{ path: '/detour.test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b }`;

/** argv of a gRPC server (unary Echo: answers `pod|` + the request) on 0.0.0.0:port. */
function grpcServerArgv(pod: string, port: number): string[] {
  const script = `const grpc = require(${JSON.stringify(GRPC_JS)}); const s = new grpc.Server(); s.addService({ unary: ${ECHO_METHOD} }, { unary: (call, done) => done(null, Buffer.concat([Buffer.from(${JSON.stringify(`${pod}|`)}), call.request])) }); s.bindAsync('0.0.0.0:${port}', grpc.ServerCredentials.createInsecure(), () => console.log('listening'));`;
  return [process.execPath, '-e', script];
}

/** argv of a gRPC client: one unary call to `target`; prints `{code, reply}` as JSON. */
function grpcClientArgv(target: string, apiKey: string | undefined): string[] {
  const metadata =
    apiKey === undefined ? '' : `md.set('x-routing-api-key', ${JSON.stringify(apiKey)});`;
  const script = `const grpc = require(${JSON.stringify(GRPC_JS)}); const Client = grpc.makeGenericClientConstructor({ unary: ${ECHO_METHOD} }, 'Echo'); const c = new Client(${JSON.stringify(target)}, grpc.credentials.createInsecure(), { 'grpc.service_config_disable_resolution': 1 }); const md = new grpc.Metadata(); ${metadata} c.unary(Buffer.from('hi'), md, { deadline: Date.now() + 8000 }, (err, reply) => { console.log(JSON.stringify(err ? { code: err.code } : { code: 0, reply: reply.toString() })); c.close(); });`;
  return [process.execPath, '-e', script];
}

/** argv of a raw TCP client: sends hex bytes, prints what came back as hex, then exits. */
function tcpClientArgv(ip: string, port: number, hex: string): string[] {
  const script = `const s = require('node:net').connect(${port}, '${ip}'); const want = Buffer.from('${hex}', 'hex'); let got = Buffer.alloc(0); s.on('data', (c) => { got = Buffer.concat([got, c]); if (got.length >= want.length) { console.log(got.toString('hex')); s.destroy(); } }); s.write(want); setTimeout(() => process.exit(2), 5000).unref();`;
  return [process.execPath, '-e', script];
}

describe('e2e: enforce at the destination (inbound capture, netns, iptables)', function () {
  this.timeout(240_000);
  let lab: NetnsLab | undefined;
  let dir: string | undefined;
  let dest: NetnsPod;
  let bare: NetnsPod;
  let caller: NetnsPod;
  let destProxy: NetnsProcess;
  let callerProxy: NetnsProcess;
  let app: NetnsProcess;
  let injected: InjectedDestination;

  const curl = async (
    pod: NetnsPod,
    url: string,
    headers: string[] = [],
    uid: number | undefined = APP_UID,
  ): Promise<{ status: number; body: string }> => {
    const headerArgs = headers.flatMap((h) => ['-H', h]);
    const result = await lab!.exec(
      pod.ns,
      ['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', ...headerArgs, url],
      { uid, env: { http_proxy: '', HTTP_PROXY: '' } },
    );
    const lines = result.stdout.split('\n');
    const status = Number(lines.pop());
    return { status, body: lines.join('\n') };
  };

  const ready = (pod: NetnsPod, proc: NetnsProcess) =>
    eventually(async () => {
      if (proc.child.exitCode !== null) {
        throw new Error(`proxy exited: ${proc.stderr()}${proc.stdout()}`);
      }
      const r = await curl(pod, 'http://127.0.0.1:15000/ready', [], undefined);
      return r.status === 200 ? true : undefined;
    }, `${pod.name}'s proxy /ready`);

  before(async function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'detour-e2e-inbound-'));
    chmodSync(dir, 0o755);
    injected = await injectDestination(dir);
    expect(injected.initArgs.join(' ')).to.include('--inbound 3000=15100,5432=15101,50051=15102');
    expect(injected.proxyArgs.join(' ')).to.include('--inbound 3000=15100,5432=15101,50051=15102');
    expect(injected.readinessProbe?.httpGet).to.deep.include({
      path: '/app-health/my-application/readyz',
      port: 15000,
    });
    const clusterFile = join(dir, 'cluster.yaml');
    writeFileSync(clusterFile, clusterYaml(injected.status), { mode: 0o644 });

    const seedCaller = readFileSync(join(SEED_DIR, 'my-other-application.yaml'), 'utf8');
    const callerDeployment = parseAllDocuments(seedCaller)[0]!.toJS() as {
      spec: { template: { metadata: { labels?: Record<string, string> } } };
    };
    const callerMeta = callerDeployment.spec.template.metadata;
    callerMeta.labels = { ...callerMeta.labels, 'detour.dev/inject': 'true' };
    const callerFile = join(dir, 'my-other-application.yaml');
    writeFileSync(callerFile, stringify(callerDeployment));
    const callerInject = await runDetour(['inject', '-f', callerFile], { timeoutMs: 60_000 });
    expect(callerInject.code, callerInject.stderr).to.equal(0);
    const callerPod = parseInjectedPod(callerInject.stdout);

    lab = NetnsLab.create();
    dest = lab.addPod('dest', { ip: DEST_IP });
    bare = lab.addPod('bare', { ip: '198.18.0.32' });
    caller = lab.addPod('caller', { ip: '198.18.0.33' });

    for (const [pod, args] of [
      [dest, injected.initArgs],
      [caller, callerPod.initArgs!],
    ] as const) {
      const init = await lab.exec(pod.ns, [process.execPath, ...detourArgv(args)]);
      expect(init.code, `detour init in ${pod.name}: ${init.stderr}`).to.equal(0);
    }
    const rules = await lab.exec(dest.ns, ['iptables-save', '-t', 'nat']);
    expect(rules.stdout).to.include(
      '-A DETOUR_INBOUND -p tcp -m tcp --dport 3000 -j REDIRECT --to-ports 15100',
    );

    app = lab.spawn(dest.ns, echoServerArgv(DEST_POD, 3000), { uid: APP_UID });
    lab.spawn(dest.ns, tcpEchoArgv(5432), { uid: APP_UID });
    lab.spawn(dest.ns, grpcServerArgv(DEST_POD, 50051), { uid: APP_UID });
    const source = ['--source', `file:${clusterFile}`];
    destProxy = lab.spawn(
      dest.ns,
      [process.execPath, ...detourArgv([...injected.proxyArgs, ...source])],
      {
        uid: PROXY_UID,
        env: {
          ...injected.proxyEnv,
          POD_NAME: DEST_POD,
          POD_NAMESPACE: 'my-namespace',
          POD_IP: DEST_IP,
          LOG_LEVEL: 'info',
        },
      },
    );
    callerProxy = lab.spawn(
      caller.ns,
      [process.execPath, ...detourArgv([...callerPod.proxyArgs, ...source])],
      {
        uid: PROXY_UID,
        env: {
          POD_NAME: 'my-other-application-0',
          POD_NAMESPACE: 'my-other-namespace',
          POD_IP: '198.18.0.33',
          LOG_LEVEL: 'info',
        },
      },
    );
    await Promise.all([ready(dest, destProxy), ready(caller, callerProxy)]);
    await eventually(async () => {
      const r = await curl(dest, `http://127.0.0.1:3000/`, [], APP_UID);
      return r.status === 200 ? true : undefined;
    }, 'the app serving in its pod');
  });

  after(async () => {
    await lab?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a sidecar-less caller that dials the pod IP without the key', async () => {
    const denied = await curl(bare, `http://${DEST_IP}:3000/nodejs/x`);
    expect(denied.status).to.equal(403);
    expect(denied.body).to.contain('DETOUR_E_API_KEY');
  });

  it('lets it through with the key, which the app never sees', async () => {
    const allowed = await curl(bare, `http://${DEST_IP}:3000/nodejs/x`, [
      `X-Routing-Api-Key: ${API_KEY}`,
    ]);
    expect(allowed.status).to.equal(200);
    const reply = JSON.parse(allowed.body) as { pod: string; apiKey: string | null };
    expect(reply).to.include({ pod: DEST_POD, apiKey: null });
    await eventually(() => {
      const statuses = accessLines(destProxy)
        .filter((l) => l.direction === 'inbound')
        .map((l) => l.status);
      return Promise.resolve(statuses.includes(403) && statuses.includes(200) ? true : undefined);
    }, 'the inbound access-log lines');
  });

  it('passes a raw TCP port the app declares through byte for byte', async () => {
    const hex = '160301000aff000d0a80414243';
    const result = await lab!.exec(bare.ns, tcpClientArgv(DEST_IP, 5432, hex), { uid: APP_UID });
    expect(result.stdout.trim()).to.equal(hex);
    await eventually(
      () =>
        Promise.resolve(
          accessLines(destProxy).some((l) => l.protocol === 'tcp' && l.direction === 'inbound')
            ? true
            : undefined,
        ),
      'the tcp access-log line',
    );
  });

  // The route is enforcedAt: destination (the destination's status says so): the caller's
  // sidecar forwards the key instead of checking and stripping it; the destination checks.
  it('routes an injected caller by plain hostname, logged on both sides with direction', async () => {
    const { status, body } = await curl(caller, `http://${HOST}/nodejs/hello`, [
      `X-ROUTING-API-KEY: ${API_KEY}`,
    ]);
    expect(status).to.equal(200);
    expect(JSON.parse(body)).to.include({ pod: DEST_POD, url: '/nodejs/hello', apiKey: null });
    await eventually(
      () =>
        Promise.resolve(
          accessLines(callerProxy).some((l) => l.path === '/nodejs/hello') &&
            accessLines(destProxy).some((l) => l.path === '/nodejs/hello')
            ? true
            : undefined,
        ),
      'both access-log lines',
    );
    const out = accessLines(callerProxy).find((l) => l.path === '/nodejs/hello');
    const inn = accessLines(destProxy).find((l) => l.path === '/nodejs/hello');
    expect(out).to.include({ direction: 'outbound', status: 200, route: `${HOST}/nodejs` });
    expect(inn).to.include({ direction: 'inbound', status: 200, route: `${HOST}/nodejs` });
  });

  it('routes a gRPC call (h2c) from a captured app by plain hostname, checked at the destination', async () => {
    const call = async (apiKey: string | undefined): Promise<{ code: number; reply?: string }> => {
      const result = await lab!.exec(caller.ns, grpcClientArgv(`${HOST}:80`, apiKey), {
        uid: APP_UID,
      });
      return JSON.parse(result.stdout.trim()) as { code: number; reply?: string };
    };
    // enforcedAt: destination: the destination's sidecar refuses, as trailers-only.
    expect(await call(undefined)).to.deep.equal({ code: 7 });
    expect(await call(API_KEY)).to.deep.equal({ code: 0, reply: `${DEST_POD}|hi` });
    const path = '/detour.test.Echo/Unary';
    await eventually(
      () =>
        accessLines(callerProxy).some((l) => l.path === path && l.grpcStatus === 0) &&
        accessLines(destProxy).some((l) => l.path === path && l.grpcStatus === 0)
          ? true
          : undefined,
      'both h2 access-log lines',
    );
    const out = accessLines(callerProxy).find((l) => l.path === path && l.grpcStatus === 0);
    const inn = accessLines(destProxy).find((l) => l.path === path && l.grpcStatus === 0);
    expect(out).to.include({
      direction: 'outbound',
      protocol: 'h2',
      route: `${HOST}/detour.test.Echo`,
    });
    expect(inn).to.include({ direction: 'inbound', protocol: 'h2', upstream: `${DEST_IP}:50051` });
    expect(accessLines(destProxy).some((l) => l.path === path && l.grpcStatus === 7)).to.equal(
      true,
    );
  });

  it('answers the rewritten probes from the admin port while the app serves, and fails them when it stops', async () => {
    // The kubelet probes from the node: here, the bridge namespace.
    const probe = async (): Promise<number> => {
      const r = await lab!.exec(lab!.bridgeNs, [
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--max-time',
        '5',
        `http://${DEST_IP}:15000/app-health/my-application/readyz`,
      ]);
      return Number(r.stdout);
    };
    expect(await probe()).to.equal(200);
    app.child.kill('SIGTERM');
    await eventually(async () => ((await probe()) === 503 ? true : undefined), 'the probe failing');
  });
});
