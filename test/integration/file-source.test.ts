import { expect } from 'chai';
import { until } from '../support/eventually.js';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileSource, fileSourcePath } from '../../sidecar/sources/file-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';
import { createLogger } from '../../shared/logger.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { DetourError } from '../../shared/errors.js';

const SEED = new URL('../../manifests/examples/seed/cluster.yaml', import.meta.url);

function pod(name: string, ip: string, hosts: string, paths: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ns
  labels: { routable: 'true' }
  annotations: { privateHosts: '${hosts}', privatePaths: '${paths}' }
spec:
  containers: [{ name: app, ports: [{ containerPort: 3000 }] }]
status:
  phase: Running
  podIP: ${ip}
  conditions: [{ type: Ready, status: 'True' }]
`;
}

/** Generous deadlines: a loaded 2-core box. */
function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  return until(predicate, what, timeoutMs);
}

describe('file source', function () {
  this.timeout(30_000);
  const config = loadPlaneConfig('private', {});
  let dir: string;
  let file: string;
  let source: FileSource | undefined;
  let tables: RouteTable[];
  let logLines: Record<string, unknown>[];

  const logger = () =>
    createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _encoding, callback) {
          for (const line of chunk.toString('utf8').split('\n')) {
            if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
          }
          callback();
        },
      }),
    });

  const start = async (debounceMs = 50): Promise<FileSource> => {
    source = new FileSource({ path: file, config, logger: logger(), debounceMs });
    await source.start((t) => tables.push(t));
    return source;
  };

  const last = (): RouteTable => {
    const t = tables.at(-1);
    if (t === undefined) throw new Error('no table delivered');
    return t;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'detour-file-source-'));
    file = join(dir, 'cluster.yaml');
    tables = [];
    logLines = [];
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers the seed example before start() resolves', async () => {
    await writeFile(file, await readFile(SEED));
    const s = await start();
    expect(s.description).to.equal(`file:${file}`);
    expect(tables).to.have.length(1);
    const m = last().match('my-application.my-namespace', '/nodejs/hello');
    expect(m.kind).to.equal('route');
    if (m.kind === 'route') {
      expect(m.route.endpoints.map((e) => e.key)).to.deep.equal([
        '127.0.0.11:3000',
        '127.0.0.12:3000',
      ]);
    }
    expect(logLines.some((l) => l.msg === 'route table loaded' && l.routes === 1)).to.equal(true);
  });

  it('reloads when the file is rewritten in place', async () => {
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a'));
    await start();
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a 3000:/b'));
    await waitFor(() => last().match('a.ns', '/b').kind === 'route', 'the new route');
    expect(last().version).to.be.greaterThan(tables[0]!.version);
  });

  it('reloads when an editor saves by renaming a new file over the old one', async () => {
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a'));
    await start();
    for (const ip of ['127.0.0.12', '127.0.0.13']) {
      const temp = join(dir, '.cluster.yaml.swp');
      await writeFile(temp, pod('a', ip, 'a.ns', '3000:/a'));
      await rename(temp, file);
      await waitFor(() => {
        const m = last().match('a.ns', '/a');
        return m.kind === 'route' && m.route.endpoints[0]?.ip === ip;
      }, `endpoint ${ip}`);
    }
  });

  it('keeps the last good table on a broken file, logs why, and recovers', async () => {
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a'));
    await start();
    await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [broken\n');
    await waitFor(() => logLines.some((l) => l.level === 50), 'the error log line');
    expect(tables).to.have.length(1);
    const error = logLines.find((l) => l.level === 50);
    expect(error).to.include({
      file,
      msg: 'route source file is invalid; keeping the last good table',
    });
    expect(error?.line).to.be.a('number');
    expect(String(error?.err)).to.contain(file);

    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/fixed'));
    await waitFor(() => last().match('a.ns', '/fixed').kind === 'route', 'the fixed table');
    expect(tables).to.have.length(2);
  });

  it('keeps the last good table while the file is missing', async () => {
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a'));
    await start();
    await rm(file);
    await waitFor(() => logLines.some((l) => l.level === 50), 'the error log line');
    expect(tables).to.have.length(1);
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/back'));
    await waitFor(() => last().match('a.ns', '/back').kind === 'route', 'the restored table');
  });

  it('does not deliver again when the content did not change', async () => {
    const text = pod('a', '127.0.0.11', 'a.ns', '3000:/a');
    await writeFile(file, text);
    await start();
    await writeFile(file, text);
    await writeFile(join(dir, 'unrelated.txt'), 'x');
    await sleep(300);
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/z'));
    await waitFor(() => last().match('a.ns', '/z').kind === 'route', 'the changed table');
    expect(tables).to.have.length(2);
  });

  it('merges RouteTables written in the file, of its plane only', async () => {
    const table = (plane: string, host: string) => `apiVersion: detour.dev/v1alpha1
kind: RouteTable
metadata: { name: detour-${plane}, namespace: static }
spec:
  plane: ${plane}
  routes:
    - host: ${host}
      path: /
      claimedAt: '2020-01-01T00:00:00Z'
      endpoints: [{ ip: 127.0.0.99, port: 8080, pod: static }]
`;
    await writeFile(
      file,
      [
        pod('a', '127.0.0.11', 'a.ns', '3000:/a'),
        table('private', 'static.example'),
        table('public', 'edge.example'),
      ].join('---\n'),
    );
    await start();
    expect(last().hosts()).to.deep.equal(['a.ns', 'static.example']);
  });

  it('stops delivering after stop()', async () => {
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/a'));
    const s = await start();
    await s.stop();
    await writeFile(file, pod('a', '127.0.0.11', 'a.ns', '3000:/b'));
    await sleep(400);
    expect(tables).to.have.length(1);
  });

  it('refuses to start on an invalid file, naming the file and the line', async () => {
    await writeFile(
      file,
      `${pod('a', '127.0.0.11', 'a.ns', '3000:/a')}---\nkind: Pod\nmetadata: { name: b, labels: { routable: true } }\n`,
    );
    const s = new FileSource({ path: file, config, logger: logger() });
    const err: unknown = await s
      .start(() => undefined)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(DetourError);
    expect((err as DetourError).code).to.equal('DETOUR_E_BAD_SOURCE');
    expect((err as DetourError).message).to.equal(
      `${file}:15: Pod b: metadata.labels must map strings to strings (quote numbers and booleans)`,
    );
  });

  it('refuses to start on a missing file', async () => {
    const s = new FileSource({ path: join(dir, 'nope.yaml'), config, logger: logger() });
    const err: unknown = await s
      .start(() => undefined)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as DetourError).code).to.equal('DETOUR_E_BAD_SOURCE');
    expect((err as DetourError).message).to.contain('nope.yaml: cannot read');
  });

  it('reads the path out of a --source flag', () => {
    expect(fileSourcePath('file:/a/b.yaml')).to.equal('/a/b.yaml');
    expect(fileSourcePath('kube')).to.equal(undefined);
    expect(fileSourcePath('file:')).to.equal(undefined);
  });
});
