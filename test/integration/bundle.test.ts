import { expect } from 'chai';
import { spawn, execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Metafile } from 'esbuild';
import { stringify } from 'yaml';
import { request } from 'undici';
import { buildBundles } from '../../scripts/build.js';
import { BUNDLES } from '../../scripts/build/bundles.js';
import {
  PROXY_COMMAND,
  PROXY_MALLOC_ARENA_MAX,
  PROXY_NODE_OPTIONS,
} from '../../webhook/sidecar-containers.js';
import { LOOPBACK_EPHEMERAL_PROXY_FLAGS } from '../support/cli.js';
import { routablePod } from '../support/routable-pod.js';
import { startUpstream, type EchoBody, type TestUpstream } from '../support/upstream.js';

const exec = promisify(execFile);

/**
 * What the image runs (issue 13): `npm run build`'s bundles, alone in a directory with
 * no node_modules anywhere above it, started through symlinks named as the Dockerfile
 * names them, with the env the webhook injects. Not a speed test: it checks that the
 * bundles start, route and reload, and what the proxy's bundle leaves out.
 */
describe('bundled entry points (what the image runs)', function () {
  this.timeout(60_000);
  let out = '';
  let dist = '';
  let meta: Metafile;
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    // The shebang says `/usr/bin/env node`: the test's Node 24 first, as in the image.
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    KUBERNETES_SERVICE_HOST: '',
    NODE_OPTIONS: PROXY_NODE_OPTIONS,
    MALLOC_ARENA_MAX: PROXY_MALLOC_ARENA_MAX,
  });

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'detour-image-'));
    dist = join(out, 'dist');
    meta = await buildBundles(dist);
    for (const bundle of BUNDLES) {
      await symlink(join(dist, `${bundle.name}.js`), join(out, bundle.command));
    }
  });

  after(async () => {
    if (out !== '') await rm(out, { recursive: true, force: true });
  });

  it('imports nothing but Node built-ins at run time (the image has no node_modules)', () => {
    const external = Object.values(meta.outputs).flatMap((o) =>
      o.imports.filter((i) => i.external).map((i) => i.path),
    );
    // Built-ins are read with process.getBuiltinModule (scripts/build/lean-plugins.ts).
    const reads = Object.keys(meta.inputs).filter((i) => i.startsWith('lazy-builtin:'));
    expect(reads).to.include('lazy-builtin:node:http');
    // ws requires these native speed-ups inside a try block and does without them.
    const optional = new Set(['bufferutil', 'utf-8-validate']);
    const offenders = external.filter(
      (p) => !p.startsWith('node:') && !builtinModules.includes(p) && !optional.has(p),
    );
    expect(offenders).to.deep.equal([]);
  });

  it("keeps undici beyond Pool, prom-client's samplers, client-node and the control plane out of what the proxy loads", () => {
    const inputs = staticInputs(meta, `${PROXY_COMMAND}.js`);
    expect(inputs.some((i) => i.includes('sidecar/proxy-server.ts'))).to.equal(true);
    const unwanted = inputs.filter((i) =>
      /@kubernetes\/client-node|undici\/(index|lib\/(web\/(websocket|eventsource|cache)|mock|cache|interceptor))|prom-client\/lib\/(defaultMetrics|metrics\/)|zod|node-forge|express|yaml\/|controller\/|webhook\//.test(
        i,
      ),
    );
    expect(unwanted).to.deep.equal([]);
  });

  it("watches RouteTables in a pod without undici's fetch or client-node code", () => {
    const chunk = Object.keys(meta.outputs).find((o) =>
      Object.keys(meta.outputs[o]!.inputs).includes('sidecar/sources/kube-source.ts'),
    )!;
    const inputs = closure(meta, chunk);
    expect(inputs).to.include('shared/kube/watch-events.ts');
    const unwanted = inputs.filter((i) =>
      /undici\/lib\/web\/fetch\/index|@kubernetes\/client-node/.test(i),
    );
    expect(unwanted).to.deep.equal([]);
  });

  it('leaves out what the proxy never runs, and loads its HTTP/2 side only when used', () => {
    // Inputs that left code in some output (esbuild lists tree-shaken ones with 0 bytes).
    const all = [
      ...new Set(
        Object.values(meta.outputs).flatMap((o) =>
          Object.entries(o.inputs).flatMap(([input, { bytesInOutput }]) =>
            bytesInOutput > 0 ? [input] : [],
          ),
        ),
      ),
    ];
    // Milo, undici's HTTP/2 client, prom-client's push and cluster parts, OpenTelemetry,
    // zod's classic API and its locales but English.
    const never = all.filter((i) =>
      /undici\/lib\/(milo|dispatcher\/client-h2)|prom-client\/(index|lib\/(pushgateway|cluster))|@opentelemetry|zod\/(index|v4\/classic)|zod\/v4\/locales\/(?!en\.js)/.test(
        i,
      ),
    );
    expect(never).to.deep.equal([]);
    const inputs = staticInputs(meta, `${PROXY_COMMAND}.js`);
    const eager = inputs.filter((i) => /sidecar\/h2\/h2-server|lazy-builtin:node:http2$/.test(i));
    expect(eager).to.deep.equal([]);
    expect(all).to.include('sidecar/h2/h2-server.ts');
  });

  it('runs `detour --help` through its symlink, via the shebang', async () => {
    const { stdout } = await exec(join(out, 'detour'), ['--help'], { env: env(), timeout: 30_000 });
    expect(stdout).to.match(/^usage: detour <command>/);
    for (const name of ['webhook', 'controller', 'proxy', 'init', 'inject', 'routes']) {
      expect(stdout).to.match(new RegExp(`^  ${name} `, 'm'));
    }
  });

  describe(`${PROXY_COMMAND} proxy --source file:`, () => {
    let a: TestUpstream;
    let b: TestUpstream;
    before(async () => {
      a = await startUpstream('a', '127.0.0.11');
      b = await startUpstream('b', '127.0.0.12');
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    const cluster = (up: TestUpstream): string =>
      stringify(
        routablePod({
          name: `app-${up.name}`,
          namespace: 'ns',
          ip: up.host,
          ports: [up.port],
          hosts: 'app.ns',
          paths: `${up.port}:/api`,
        }),
      );

    it('starts, routes, and follows a rewrite of its file, loading neither TLS nor HTTP/2', async () => {
      const file = join(out, 'cluster.yaml');
      await writeFile(file, cluster(a));
      // Node's own list of the built-ins this process loaded, written as it exits: TLS
      // (5 MB) loads with the first HTTPS probe or the kube source, HTTP/2 (7 MB) with the
      // first h2c connection; an HTTP/1 proxy with a file table needs neither.
      const loaded = join(out, 'loaded.txt');
      const preload = join(out, 'loaded.cjs');
      await writeFile(
        preload,
        `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')));`,
      );
      const child = spawn(
        join(out, PROXY_COMMAND),
        ['proxy', '--source', `file:${file}`, ...LOOPBACK_EPHEMERAL_PROXY_FLAGS],
        {
          env: { ...env(), NODE_OPTIONS: `${PROXY_NODE_OPTIONS} --require ${preload}` },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let log = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (log += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
      try {
        const listen = await waitFor(
          () => /"listen":"([\d.]+:\d+)"/.exec(log)?.[1],
          () => log,
        );
        await waitFor(
          () => (/"msg":"ready"/.test(log) ? true : undefined),
          () => log,
        );
        expect(await answeredBy(listen)).to.equal('a');
        // Save as an editor does: a new file renamed over the old one.
        await writeFile(`${file}.new`, cluster(b));
        await rename(`${file}.new`, file);
        await waitFor(
          async () => ((await answeredBy(listen)) === 'b' ? true : undefined),
          () => log,
        );
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      expect(log).to.match(/"msg":"stopped"/);
      const modules = (await readFile(loaded, 'utf8')).split('\n');
      expect(modules).to.include('NativeModule http');
      expect(modules.filter((m) => /^NativeModule (tls|https|http2)$/.test(m))).to.deep.equal([]);
    });
  });
});

/** Source files in the chunks an entry loads before any dynamic import()... */
function staticInputs(meta: Metafile, entry: string): string[] {
  const outputs = meta.outputs;
  const start = Object.keys(outputs).find((o) => o.endsWith(`/${entry}`))!;
  // ...of the command module it dispatches to, which is what runs.
  return closure(meta, outputs[start]!.imports.find((i) => i.kind === 'dynamic-import')!.path);
}

/** The inputs of `output` and of every chunk it imports statically. */
function closure(meta: Metafile, output: string): string[] {
  const outputs = meta.outputs;
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length > 0) {
    const o = stack.pop()!;
    if (seen.has(o)) continue;
    seen.add(o);
    for (const i of outputs[o]!.imports) {
      if (!i.external && i.kind === 'import-statement') stack.push(i.path);
    }
  }
  return [...seen].flatMap((o) => Object.keys(outputs[o]!.inputs));
}

async function answeredBy(listen: string): Promise<string> {
  const res = await request(`http://${listen}/api/x`, { headers: { host: 'app.ns' } });
  const body = (await res.body.json()) as EchoBody;
  return body.name;
}

async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  context: () => string,
): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out; output:\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
