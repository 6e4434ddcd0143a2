import { expect } from 'chai';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { KubeSource } from '../../sidecar/sources/kube-source.js';
import type { RouteTable } from '../../sidecar/route-table.js';
import { ApiServerDouble } from '../support/api-server/server.js';
import { eventually } from '../support/api-server/kube-test-client.js';
import { findResource, type KubeObject } from '../support/api-server/resources.js';
import { memoryLog, TEST_KNOBS, type MemoryLog } from '../support/kube-stack.js';

function table(namespace: string, host: string, plane = 'private', path = '/'): KubeObject {
  return {
    apiVersion: 'detour.dev/v1alpha1',
    kind: 'RouteTable',
    metadata: { name: `detour-${plane}`, namespace, labels: { 'detour.dev/plane': plane } },
    spec: {
      plane,
      routes: [
        {
          host,
          path,
          claimedAt: '2026-01-01T00:00:00Z',
          endpoints: [{ ip: '127.0.0.51', port: 8080, pod: 'web' }],
        },
      ],
    },
  };
}

describe('kube source (RouteTables -> one route table)', function () {
  this.timeout(30_000);
  let double: ApiServerDouble;
  let source: KubeSource;
  let log: MemoryLog;
  let tables: RouteTable[];

  beforeEach(async () => {
    double = await ApiServerDouble.start({ bookmarkIntervalMs: 200 });
    log = memoryLog();
    tables = [];
    source = new KubeSource({
      config: loadPlaneConfig('private', {}),
      kubeConfig: double.kubeConfig(),
      logger: log.logger,
      knobs: { ...TEST_KNOBS, pageSize: 1 },
    });
  });
  afterEach(async () => {
    await source.stop();
    await double.close();
  });

  it("delivers its first table only after the complete (paged) list, with this plane's tables only", async () => {
    double.seed(table('a', 'a.example'));
    double.seed(table('b', 'b.example'));
    double.seed(table('c', 'c.example'));
    double.seed(table('d', 'public.example', 'public'));
    await source.start((t) => tables.push(t));
    expect(tables).to.have.length(1);
    expect(tables[0]?.hosts().sort()).to.deep.equal(['a.example', 'b.example', 'c.example']);
    expect(double.counters.lists).to.equal(3); // one page per table
    expect(source.connected).to.be.true;
  });

  it('ignores a RouteTable that breaks the schema, says so, and keeps routing the others', async () => {
    double.seed(table('a', 'a.example'));
    await source.start((t) => tables.push(t));
    double.seed(table('b', 'b.example', 'private', 'no-leading-slash'));
    double.seed(table('c', 'c.example'));
    await eventually(
      () => (tables.at(-1)?.hasHost('c.example') === true ? true : undefined),
      'c routed',
    );
    expect(tables.at(-1)?.hosts().sort()).to.deep.equal(['a.example', 'c.example']);
    const warnings = log
      .records()
      .filter((r) => r.msg === 'RouteTable ignored: it does not match the schema');
    expect(warnings).to.have.length(1);
    expect(warnings[0]?.namespace).to.equal('b');
  });

  it('reports a table change as a new table with a higher version, and a deleted namespace table as gone', async () => {
    double.seed(table('a', 'a.example'));
    double.seed(table('b', 'b.example'));
    await source.start((t) => tables.push(t));
    const first = tables[0]!;
    double.store.delete(findResource('RouteTable'), 'b', 'detour-private');
    await eventually(
      () => (tables.at(-1)?.hasHost('b.example') === false ? true : undefined),
      'b gone',
    );
    expect(tables.at(-1)!.version).to.be.greaterThan(first.version);
    expect(source.table).to.equal(tables.at(-1));
  });
});
