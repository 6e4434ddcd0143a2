import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type DnsServer } from '../../sidecar/dns/dns-server.js';
import { firstData, rcodeOf, tcpQueries, udpQuery } from '../support/dns-client.js';
import { startFakeResolver, type FakeResolver } from '../support/fake-resolver.js';

describe('DNS server (real UDP and TCP on 127.0.0.1, fake resolver on 127.0.0.2)', function () {
  this.timeout(30_000);
  let dir: string;
  let upstream: FakeResolver;
  let server: DnsServer;
  let hosts: Set<string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'detour-dns-'));
    upstream = await startFakeResolver({
      host: '127.0.0.2',
      port: 0,
      records: { 'unknown.example': '198.18.0.99', 'big.example': '198.18.0.98' },
      truncate: ['big.example'],
      silent: ['slow.example'],
    });
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(
      resolvConf,
      'nameserver 127.0.0.2\nsearch my-namespace.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
    hosts = new Set(['my-application.my-namespace']);
    server = await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      hasHost: (name) => hosts.has(name),
      resolvConf,
      upstreamPort: upstream.port,
      upstreamTimeoutMs: 500,
    });
  });

  after(async () => {
    await server.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a route host with a stable VIP over UDP, without asking upstream', async () => {
    const before = upstream.queries.length;
    const first = await udpQuery(server.port, 'my-application.my-namespace');
    const again = await udpQuery(server.port, 'my-application.my-namespace');
    expect(rcodeOf(first)).to.equal('NOERROR');
    const address = firstData(first);
    expect(address)
      .to.be.a('string')
      .and.match(/^240\.240\.\d+\.\d+$/);
    expect(firstData(again)).to.equal(address);
    expect(upstream.queries.length).to.equal(before);
  });

  it('answers the search-expanded name and an empty AAAA, over TCP', async () => {
    const [a, aaaa] = await tcpQueries(server.port, [
      { name: 'my-application.my-namespace.my-namespace.svc.cluster.local', type: 'A' },
      { name: 'my-application.my-namespace', type: 'AAAA' },
    ]);
    const viaUdp = await udpQuery(server.port, 'my-application.my-namespace');
    expect(firstData(a!)).to.equal(firstData(viaUdp));
    expect(rcodeOf(aaaa!)).to.equal('NOERROR');
    expect(aaaa!.answers).to.deep.equal([]);
  });

  it('forwards other names unchanged to the resolv.conf nameserver', async () => {
    const answer = await udpQuery(server.port, 'unknown.example');
    expect(firstData(answer)).to.equal('198.18.0.99');
    const missing = await udpQuery(server.port, 'nothing.example');
    expect(rcodeOf(missing)).to.equal('NXDOMAIN');
    expect(upstream.queries.map((q) => q.name)).to.include.members([
      'unknown.example',
      'nothing.example',
    ]);
  });

  it('follows the route table as it changes', async () => {
    hosts.add('orders.shop');
    const answer = await udpQuery(server.port, 'orders.shop');
    expect(firstData(answer)).to.match(/^240\.240\./);
    hosts.delete('orders.shop');
    const gone = await udpQuery(server.port, 'orders.shop');
    expect(rcodeOf(gone)).to.equal('NXDOMAIN');
  });

  it('passes a truncated UDP answer to a UDP client, and retries over TCP for a TCP client', async () => {
    const overUdp = await udpQuery(server.port, 'big.example');
    expect(overUdp.flag_tc).to.be.true;
    const [overTcp] = await tcpQueries(server.port, [{ name: 'big.example', type: 'A' }]);
    expect(overTcp!.flag_tc).to.be.false;
    expect(firstData(overTcp!)).to.equal('198.18.0.98');
    expect(upstream.queries).to.deep.include({ name: 'big.example', type: 'A', transport: 'tcp' });
  });

  it('answers SERVFAIL when the resolver does not answer in time', async () => {
    const answer = await udpQuery(server.port, 'slow.example');
    expect(rcodeOf(answer)).to.equal('SERVFAIL');
  });
});
