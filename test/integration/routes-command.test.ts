import { expect } from 'chai';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { runDetour } from '../support/cli.js';
import { AdminServer } from '../../sidecar/admin-server.js';
import { ProxyServer } from '../../sidecar/proxy-server.js';
import { AccessLog } from '../../sidecar/access-log.js';
import { ProxyMetrics } from '../../sidecar/proxy-metrics.js';
import { loadTable } from '../../sidecar/sources/file-source.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';

const SEED = fileURLToPath(new URL('../../manifests/examples/seed/cluster.yaml', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../testdata/compile/skipped-entries.yaml', import.meta.url));

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('detour routes', function () {
  // Each case spawns `detour` from source (tsx): slow on a loaded 2-core machine.
  this.timeout(60_000);

  describe('against a running proxy admin server', () => {
    let admin: AdminServer;
    let adminUrl: string;

    before(async () => {
      const config = loadPlaneConfig('private', {});
      const proxy = new ProxyServer({
        mode: 'sidecar',
        config,
        accessLog: new AccessLog({
          destination: new Writable({
            write: (_c, _e, cb) => {
              cb();
            },
          }),
        }),
        metrics: new ProxyMetrics(),
      });
      proxy.setTable(loadTable(await readFile(SEED, 'utf8'), SEED, config));
      proxy.markReady();
      admin = new AdminServer(proxy, `file:${SEED}`);
      const address = await admin.listen(0, '127.0.0.1');
      adminUrl = `http://127.0.0.1:${address.port}`;
    });

    after(async () => {
      await admin.close();
    });

    it('prints the table for people', async () => {
      const r = await runDetour(['routes', '--admin', adminUrl]);
      expect(r.stderr).to.equal('');
      expect(r.code).to.equal(0);
      const lines = r.stdout.split('\n');
      expect(lines[0]).to.match(/^source file:.*cluster\.yaml, table v\d+, 1 route\(s\), ready$/);
      expect(lines[2]).to.match(/^HOST +PATH +NAMESPACE +API KEY +ENFORCED AT +POLICY +ENDPOINTS$/);
      expect(lines[3]).to.match(
        /^my-application\.my-namespace +\/nodejs +my-namespace +no +caller +- +127\.0\.0\.11:3000 \(my-application-7d4b9c8f6-abcde\), 127\.0\.0\.12:3000 \(my-application-7d4b9c8f6-fghij\)$/,
      );
    });

    it('prints the raw JSON with --json', async () => {
      const r = await runDetour(['routes', '--admin', `${adminUrl}/`, '--json']);
      expect(r.code).to.equal(0);
      const doc = JSON.parse(r.stdout) as {
        routeCount: number;
        ready: boolean;
        routes: { id: string }[];
      };
      expect(doc.routeCount).to.equal(1);
      expect(doc.ready).to.equal(true);
      expect(doc.routes[0]?.id).to.equal('my-application.my-namespace/nodejs');
    });

    it('explains a URL', async () => {
      const r = await runDetour([
        'routes',
        '--admin',
        adminUrl,
        '--explain',
        'http://my-application.my-namespace/nodejs/hello?x=1',
      ]);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.contain(
        '  -> my-application.my-namespace/nodejs in namespace my-namespace\n',
      );
      expect(r.stdout).to.contain('forwarded to one of 2 endpoint(s)');
      expect(r.stdout).to.contain('no API key required');
    });

    it('explains a URL as JSON', async () => {
      const r = await runDetour([
        'routes',
        '--admin',
        adminUrl,
        '--explain',
        'http://unknown.example/',
        '--json',
      ]);
      expect(r.code).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.include({ outcome: 'passthrough', mode: 'sidecar' });
    });
  });

  describe('offline, from a file', () => {
    it('prints a table with its skipped entries', async () => {
      const r = await runDetour(['routes', '--source', `file:${FIXTURE}`]);
      expect(r.code).to.equal(0);
      // The eight bad entries, and 10.0.0.7: an address is no namespace's own host.
      expect(r.stdout).to.contain('skipped entries (10):');
      expect(r.stdout).to.contain(
        '  team-a/mixed privateHosts "10.0.0.7": host not claimable by namespace team-a',
      );
      expect(r.stdout).to.contain(
        '  team-a/mixed privateHosts "api.team-a:8080": a host must not carry a port (host match ignores the port)',
      );
    });

    it('explains in gateway mode with the public plane annotations', async () => {
      const r = await runDetour([
        'routes',
        '--source',
        `file:${SEED}`,
        '--mode',
        'gateway',
        '--explain',
        'my-application.example.com/nodejs',
        '--json',
      ]);
      expect(r.code).to.equal(0);
      const e = JSON.parse(r.stdout) as { outcome: string; route: { namespace: string } };
      expect(e.outcome).to.equal('route');
      expect(e.route.namespace).to.equal('my-namespace');
    });

    it('names the file and line of an invalid file', async () => {
      const r = await runDetour([
        'routes',
        '--source',
        `file:${fileURLToPath(new URL('../../package.json', import.meta.url))}`,
      ]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^detour: DETOUR_E_BAD_SOURCE: .*package\.json:1: /);
    });
  });

  describe('errors', () => {
    it('says when the admin server cannot be reached', async () => {
      const port = await closedPort();
      const r = await runDetour(['routes', '--admin', `http://127.0.0.1:${port}`]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain(
        `DETOUR_E_UPSTREAM: cannot reach the proxy's admin server at http://127.0.0.1:${port}`,
      );
      expect(r.stderr).to.contain('ECONNREFUSED');
    });

    it('refuses contradictory and malformed flags', async () => {
      const both = await runDetour([
        'routes',
        '--admin',
        'http://127.0.0.1:1',
        '--source',
        'file:x',
      ]);
      expect(both.code).to.equal(1);
      expect(both.stderr).to.contain('use either --admin or --source');
      const mode = await runDetour(['routes', '--source', 'file:x', '--mode', 'edge']);
      expect(mode.stderr).to.contain('flag --mode: invalid value "edge"');
      const source = await runDetour(['routes', '--source', 'kube']);
      expect(source.stderr).to.contain('expected file:PATH');
    });

    it('prints its usage on --help', async () => {
      const r = await runDetour(['routes', '--help']);
      expect(r.code).to.equal(0);
      expect(r.stdout).to.match(/^usage: detour routes/);
    });
  });
});
