import { expect } from 'chai';
import { eventually } from '../support/eventually.js';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT, detourArgv, runDetour } from '../support/cli.js';
import {
  BRIDGE_IP,
  NetnsLab,
  netnsUnavailable,
  type NetnsPod,
  type NetnsProcess,
  accessLines,
} from '../support/netns.js';
import {
  SEED_DIR,
  echoServerArgv,
  parseInjectedPod,
  routingSecretYaml,
  seedClusterYaml,
  type InjectedPod,
} from '../support/seed-example.js';

/**
 * The seed's own example, end to end, with real capture: two replicas of my-application
 * serve /nodejs on port 3000 in their "pods" (network namespaces); my-other-application's
 * pod is injected by the real `detour inject` from the seed manifest; its init container
 * args run as root in the pod's namespace, its proxy runs as UID 1337 with
 * `--source file:` pointing at the seed's cluster objects, and the app is `curl` as
 * UID 1000. A fake resolver on the bridge plays the cluster DNS.
 *
 * Addresses (198.18.0.0/24, RFC 2544 benchmark range):
 *   .1 bridge + resolver   .11/.12 my-application replicas   .20 client (DNS capture)
 *   .21 client, DNS capture off   .22 client, proxy-env   .23 bare (no detour)
 *   .40 "Service IP" of my-application in real DNS (a decoy)   .41 unknown.example
 */
const APP_UID = 1000;
const PROXY_UID = 1337;
const HOST = 'my-application.my-namespace';
const URL_PATH = '/nodejs/hello';
const API_KEY = 'my-private-api-key';
const RESOLV_CONF = `nameserver ${BRIDGE_IP}\nsearch my-other-namespace.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:2 attempts:2\n`;
const DNS_RECORDS = {
  [`${HOST}.svc.cluster.local`]: '198.18.0.40',
  'unknown.example': '198.18.0.41',
};

interface Reply {
  pod: string;
  url: string;
  host: string;
  apiKey: string | null;
}

/** Runs the real `detour inject` on the seed manifest with extra pod annotations. */
async function inject(annotations: Record<string, string>, dir: string): Promise<InjectedPod> {
  const seed = readFileSync(join(SEED_DIR, 'my-other-application.yaml'), 'utf8');
  const deployment = parseAllDocuments(seed)[0]!.toJS() as {
    spec: {
      template: {
        metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
      };
    };
  };
  const meta = deployment.spec.template.metadata;
  meta.labels = { ...meta.labels, 'detour.dev/inject': 'true' };
  meta.annotations = { ...meta.annotations, ...annotations };
  const file = join(dir, `manifest-${Object.values(annotations).join('-') || 'default'}.yaml`);
  writeFileSync(file, stringify(deployment));
  const result = await runDetour(['inject', '-f', file], { timeoutMs: 60_000 });
  expect(result.code, result.stderr).to.equal(0);
  return parseInjectedPod(result.stdout);
}

/** The seed's cluster objects with this lab's pod IPs, optionally with the API-key Secret. */
function clusterYaml(withSecret: boolean): string {
  const text = seedClusterYaml({
    '127.0.0.11': '198.18.0.11',
    '127.0.0.12': '198.18.0.12',
    '127.0.0.21': '198.18.0.20',
  });
  return withSecret ? text + routingSecretYaml(API_KEY) : text;
}

describe('e2e: the seed example with real capture (netns, iptables, DNS)', function () {
  this.timeout(240_000);
  let lab: NetnsLab | undefined;
  let dir: string | undefined;
  let clusterFile: string;
  let client: NetnsPod;
  let clientNoDns: NetnsPod;
  let clientEnv: NetnsPod;
  let bare: NetnsPod;
  let proxy: NetnsProcess;
  let proxyNoDns: NetnsProcess;
  let proxyEnv: NetnsProcess;
  let envVars: Record<string, string>;
  let callsThroughClient = 0;

  const curl = async (
    pod: NetnsPod,
    url: string,
    options: { headers?: string[]; env?: Record<string, string> } = {},
  ): Promise<{ status: number; body: string }> => {
    const headerArgs = (options.headers ?? []).flatMap((h) => ['-H', h]);
    const result = await lab!.exec(
      pod.ns,
      ['curl', '-sS', '--max-time', '15', '-w', '\n%{http_code}', ...headerArgs, url],
      { uid: APP_UID, env: { http_proxy: '', HTTP_PROXY: '', NO_PROXY: '', ...options.env } },
    );
    expect(result.code, `curl ${url} in ${pod.name}: ${result.stderr}`).to.equal(0);
    const lines = result.stdout.split('\n');
    const status = Number(lines.pop());
    return { status, body: lines.join('\n') };
  };
  const callClient = async (url: string, headers: string[] = []) => {
    callsThroughClient += 1;
    return curl(client, url, { headers });
  };
  const getent = async (pod: NetnsPod, name: string): Promise<string> => {
    const result = await lab!.exec(pod.ns, ['getent', 'ahostsv4', name], { uid: APP_UID });
    return result.stdout.split(/\s/)[0] ?? '';
  };
  const startProxy = (pod: NetnsPod, args: string[]): NetnsProcess =>
    lab!.spawn(
      pod.ns,
      [process.execPath, ...detourArgv([...args, '--source', `file:${clusterFile}`])],
      {
        uid: PROXY_UID,
        env: { POD_NAME: pod.name, POD_NAMESPACE: 'my-other-namespace', LOG_LEVEL: 'info' },
      },
    );
  const ready = (pod: NetnsPod, proc: NetnsProcess) =>
    eventually(
      async () => {
        if (proc.child.exitCode !== null)
          throw new Error(`proxy exited: ${proc.stderr()}${proc.stdout()}`);
        const r = await lab!.exec(pod.ns, [
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          'http://127.0.0.1:15000/ready',
        ]);
        return r.stdout === '200' ? true : undefined;
      },
      `${pod.name}'s proxy /ready`,
      90_000,
    );

  before(async function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'detour-e2e-'));
    chmodSync(dir, 0o755); // the proxy (UID 1337) reads the cluster file
    clusterFile = join(dir, 'cluster.yaml');
    writeFileSync(clusterFile, clusterYaml(false), { mode: 0o644 });

    const [plain, noDns, env] = await Promise.all([
      inject({}, dir),
      inject({ 'detour.dev/dns-capture': 'false' }, dir),
      inject({ 'detour.dev/capture': 'proxy-env' }, dir),
    ]);
    expect(plain.initArgs, 'iptables mode has an init container').to.be.an('array');
    expect(env.initArgs, 'proxy-env mode has no init container').to.equal(undefined);
    expect(noDns.initArgs?.join(' ')).to.include('--dns-capture false');
    envVars = env.appEnv;

    lab = NetnsLab.create();
    // The proxy runs from this checkout as UID 1337: the repo must be world-readable.
    const readable = await lab.exec(
      lab.bridgeNs,
      ['test', '-r', join(REPO_ROOT, 'bin/detour.ts')],
      {
        uid: PROXY_UID,
      },
    );
    expect(readable.code, `${REPO_ROOT} must be readable by UID ${PROXY_UID}`).to.equal(0);
    lab.spawn(lab.bridgeNs, [
      process.execPath,
      '--import',
      'tsx',
      join(REPO_ROOT, 'test/support/fake-resolver.ts'),
      BRIDGE_IP,
      '53',
      JSON.stringify(DNS_RECORDS),
    ]);
    const replica1 = lab.addPod('app1', { ip: '198.18.0.11', resolvConf: RESOLV_CONF });
    const replica2 = lab.addPod('app2', { ip: '198.18.0.12', resolvConf: RESOLV_CONF });
    const decoy = lab.addPod('decoy', { ip: '198.18.0.40' });
    const external = lab.addPod('external', { ip: '198.18.0.41' });
    client = lab.addPod('client', { ip: '198.18.0.20', resolvConf: RESOLV_CONF });
    clientNoDns = lab.addPod('nodns', { ip: '198.18.0.21', resolvConf: RESOLV_CONF });
    clientEnv = lab.addPod('env', { ip: '198.18.0.22', resolvConf: RESOLV_CONF });
    bare = lab.addPod('bare', { ip: '198.18.0.23', resolvConf: RESOLV_CONF });

    lab.spawn(replica1.ns, echoServerArgv('my-application-7d4b9c8f6-abcde', 3000), {
      uid: APP_UID,
    });
    lab.spawn(replica2.ns, echoServerArgv('my-application-7d4b9c8f6-fghij', 3000), {
      uid: APP_UID,
    });
    lab.spawn(decoy.ns, echoServerArgv('decoy-service-ip', 80));
    lab.spawn(external.ns, echoServerArgv('unknown-example', 80));

    // The init containers, as root in each pod's namespace, with the rendered args.
    for (const [pod, injected] of [
      [client, plain],
      [clientNoDns, noDns],
    ] as const) {
      const init = await lab.exec(pod.ns, [process.execPath, ...detourArgv(injected.initArgs!)]);
      expect(init.code, `detour init in ${pod.name}: ${init.stderr}`).to.equal(0);
    }
    proxy = startProxy(client, plain.proxyArgs);
    proxyNoDns = startProxy(clientNoDns, noDns.proxyArgs);
    proxyEnv = startProxy(clientEnv, env.proxyArgs);
    await Promise.all([
      ready(client, proxy),
      ready(clientNoDns, proxyNoDns),
      ready(clientEnv, proxyEnv),
    ]);
    for (const [pod, ip, port] of [
      [replica1, '198.18.0.11', 3000],
      [replica2, '198.18.0.12', 3000],
      [decoy, '198.18.0.40', 80],
      [external, '198.18.0.41', 80],
    ] as const) {
      await eventually(async () => {
        const r = await lab!.exec(lab!.bridgeNs, [
          'curl',
          '-s',
          '--max-time',
          '2',
          `http://${ip}:${port}/`,
        ]);
        return r.code === 0 ? true : undefined;
      }, `${pod.name} serving`);
    }
  });

  after(async () => {
    await lab?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('resolves the plain hostname to a virtual IP through the captured DNS', async () => {
    expect(await getent(client, HOST)).to.match(/^240\.240\.\d+\.\d+$/);
  });

  it('routes the plain-hostname call to both replicas over repeated calls', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { status, body } = await callClient(`http://${HOST}${URL_PATH}`);
      expect(status).to.equal(200);
      const reply = JSON.parse(body) as Reply;
      expect(reply.url).to.equal(URL_PATH);
      expect(reply.host).to.equal(HOST);
      pods.add(reply.pod);
    }
    expect([...pods].sort()).to.deep.equal([
      'my-application-7d4b9c8f6-abcde',
      'my-application-7d4b9c8f6-fghij',
    ]);
  });

  it('routes a Service-style name that real DNS knows, by port capture (DNS capture off)', async () => {
    expect(await getent(clientNoDns, HOST)).to.equal('198.18.0.40');
    const { status, body } = await curl(clientNoDns, `http://${HOST}${URL_PATH}`);
    expect(status).to.equal(200);
    expect((JSON.parse(body) as Reply).pod).to.match(/^my-application-/);
  });

  it('lets an unknown host go straight through to its real address', async () => {
    const { status, body } = await callClient('http://unknown.example/anything');
    expect(status).to.equal(200);
    expect(JSON.parse(body)).to.include({ pod: 'unknown-example', url: '/anything' });
  });

  it('works in proxy-env mode with no iptables rule at all', async () => {
    const rules = await lab!.exec(clientEnv.ns, ['iptables-save']);
    expect(rules.stdout).not.to.include('DETOUR');
    expect(envVars.http_proxy).to.match(/^http:\/\/127\.0\.0\.1:15001/);
    const { status, body } = await curl(clientEnv, `http://${HOST}${URL_PATH}`, { env: envVars });
    expect(status).to.equal(200);
    expect((JSON.parse(body) as Reply).pod).to.match(/^my-application-/);
    await eventually(
      () => Promise.resolve(accessLines(proxyEnv).length === 1 ? true : undefined),
      'proxy-env access log',
    );
  });

  it('does not capture a namespace without the rules: the call reaches the real address', async () => {
    // Let the earlier calls' lines arrive first, so any new line would be this call's.
    await eventually(
      () =>
        Promise.resolve(
          accessLines(proxy).length === callsThroughClient && accessLines(proxyNoDns).length === 1
            ? true
            : undefined,
        ),
      'earlier access-log lines',
    );
    const before = accessLines(proxy).length + accessLines(proxyNoDns).length;
    expect(await getent(bare, HOST)).to.equal('198.18.0.40');
    const { status, body } = await curl(bare, `http://${HOST}${URL_PATH}`);
    expect(status).to.equal(200);
    expect((JSON.parse(body) as Reply).pod).to.equal('decoy-service-ip');
    expect(accessLines(proxy).length + accessLines(proxyNoDns).length).to.equal(before);
  });

  it('enforces the API key once the routing Secret exists, and strips it', async () => {
    writeFileSync(clusterFile, clusterYaml(true), { mode: 0o644 });
    await eventually(async () => {
      const r = await lab!.exec(client.ns, ['curl', '-s', 'http://127.0.0.1:15000/routes']);
      return /"apiKeyRequired":\s*true/.test(r.stdout) ? true : undefined;
    }, 'the Secret in the route table');
    const denied = await callClient(`http://${HOST}${URL_PATH}`);
    expect(denied.status).to.equal(403);
    const allowed = await callClient(`http://${HOST}${URL_PATH}`, [
      `X-ROUTING-API-KEY: ${API_KEY}`,
    ]);
    expect(allowed.status).to.equal(200);
    expect((JSON.parse(allowed.body) as Reply).apiKey).to.equal(null);
  });

  it("writes one access-log line per call on the sidecar's stdout", async () => {
    await eventually(
      () => Promise.resolve(accessLines(proxy).length >= callsThroughClient ? true : undefined),
      'access-log lines',
    );
    const lines = accessLines(proxy);
    expect(lines).to.have.length(callsThroughClient);
    expect(lines.filter((l) => l.host === HOST && l.status === 200)).to.have.length(7);
    expect(lines.filter((l) => l.host === 'unknown.example')).to.have.length(1);
    expect(lines.filter((l) => l.status === 403)).to.have.length(1);
  });
});
