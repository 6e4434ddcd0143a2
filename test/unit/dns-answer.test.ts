import { expect } from 'chai';
import dnsPacket from 'dns-packet';
import { decideQuery, isTruncated, routeHostFor, servfail } from '../../sidecar/dns/dns-answer.js';
import { frame, FrameReader } from '../../sidecar/dns/dns-forwarder.js';
import { parseResolvConf } from '../../sidecar/dns/resolv-conf.js';
import { VipAllocator } from '../../sidecar/dns/vip-allocator.js';
import { rcodeOf } from '../support/dns-client.js';

const HOSTS = new Set(['my-application.my-namespace', 'orders']);
const hasHost = (name: string): boolean => HOSTS.has(name);
const SEARCH = ['my-namespace.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];

function query(name: string, type: 'A' | 'AAAA' | 'MX', id = 7): Buffer {
  return dnsPacket.encode({
    id,
    type: 'query',
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
}

describe('resolv.conf', () => {
  it('takes the nameservers and the last search line', () => {
    const conf = parseResolvConf(
      '# kubelet\nnameserver 198.18.0.1\nnameserver fd00::a ; second\nsearch a.example\nsearch My-NS.svc.cluster.local. svc.cluster.local\noptions ndots:5\n',
    );
    expect(conf.nameservers).to.deep.equal(['198.18.0.1', 'fd00::a']);
    expect(conf.search).to.deep.equal(['my-ns.svc.cluster.local', 'svc.cluster.local']);
  });

  it('ignores a nameserver that is not an address', () => {
    expect(parseResolvConf('nameserver dns.example\n').nameservers).to.deep.equal([]);
  });
});

describe('route host of a query name', () => {
  it('matches the name, any case, with or without the trailing dot', () => {
    expect(routeHostFor('My-Application.My-Namespace.', SEARCH, hasHost)).to.equal(
      'my-application.my-namespace',
    );
  });

  it('strips one search suffix, as the app resolver appended it', () => {
    expect(
      routeHostFor('my-application.my-namespace.my-namespace.svc.cluster.local', SEARCH, hasHost),
    ).to.equal('my-application.my-namespace');
    expect(routeHostFor('orders.cluster.local', SEARCH, hasHost)).to.equal('orders');
  });

  it('does not match other names or partial labels', () => {
    expect(routeHostFor('example.com', SEARCH, hasHost)).to.equal(undefined);
    expect(routeHostFor('xorders', SEARCH, hasHost)).to.equal(undefined);
    expect(routeHostFor('orders.other.local', SEARCH, hasHost)).to.equal(undefined);
  });
});

describe('virtual IPs', () => {
  it('gives a host the same address every time, inside the range, never network or broadcast', () => {
    const vips = new VipAllocator('240.240.0.0/16');
    const a = vips.addressFor('my-application.my-namespace');
    expect(vips.addressFor('MY-APPLICATION.my-namespace')).to.equal(a);
    expect(a).to.match(/^240\.240\.\d+\.\d+$/);
    expect(new VipAllocator('240.240.0.0/16').addressFor('my-application.my-namespace')).to.equal(
      a,
    );
  });

  it('probes past collisions and says when the range is full', () => {
    const vips = new VipAllocator('240.240.0.0/30'); // two usable addresses
    const first = vips.addressFor('a');
    const second = vips.addressFor('b');
    expect(new Set([first, second])).to.deep.equal(new Set(['240.240.0.1', '240.240.0.2']));
    expect(() => vips.addressFor('c')).to.throw(/exhausted/);
  });

  it('spreads many hosts without duplicates', () => {
    const vips = new VipAllocator('240.240.0.0/24');
    const addresses = Array.from({ length: 254 }, (_, i) => vips.addressFor(`host-${i}`));
    expect(new Set(addresses).size).to.equal(254);
    expect(addresses).not.to.include('240.240.0.0');
    expect(addresses).not.to.include('240.240.0.255');
  });
});

describe('DNS decisions', () => {
  const ctx = () => ({
    hasHost,
    search: SEARCH,
    vips: new VipAllocator('240.240.0.0/16'),
    ttl: 30,
  });

  it('answers A for a route host with its VIP, keeping the id and the asked name', () => {
    const c = ctx();
    const decision = decideQuery(
      query('my-application.my-namespace.svc.cluster.local', 'A', 4242),
      c,
    );
    expect(decision.kind).to.equal('answer');
    if (decision.kind !== 'answer') return;
    const response = dnsPacket.decode(decision.response);
    expect(response.id).to.equal(4242);
    expect(rcodeOf(response)).to.equal('NOERROR');
    expect(response.flag_rd).to.be.true;
    expect(response.answers).to.have.length(1);
    expect(response.answers?.[0]).to.include({
      type: 'A',
      name: 'my-application.my-namespace.svc.cluster.local',
      ttl: 30,
      data: c.vips.addressFor('my-application.my-namespace'),
    });
  });

  for (const type of ['AAAA', 'MX'] as const) {
    it(`answers ${type} for a route host with NOERROR and no records`, () => {
      const decision = decideQuery(query('orders', type), ctx());
      expect(decision.kind).to.equal('answer');
      if (decision.kind !== 'answer') return;
      const response = dnsPacket.decode(decision.response);
      expect(rcodeOf(response)).to.equal('NOERROR');
      expect(response.answers).to.deep.equal([]);
    });
  }

  it('forwards every other name, and drops garbage', () => {
    expect(decideQuery(query('example.com', 'A'), ctx()).kind).to.equal('forward');
    expect(decideQuery(Buffer.from([1, 2, 3]), ctx()).kind).to.equal('drop');
  });

  it('builds SERVFAIL for a query, and reads the TC bit', () => {
    const failed = servfail(query('example.com', 'A', 99))!;
    const decoded = dnsPacket.decode(failed);
    expect(decoded.id).to.equal(99);
    expect(rcodeOf(decoded)).to.equal('SERVFAIL');
    expect(isTruncated(failed)).to.be.false;
    const tc = dnsPacket.encode({ id: 1, type: 'response', flags: dnsPacket.TRUNCATED_RESPONSE });
    expect(isTruncated(tc)).to.be.true;
  });
});

describe('DNS over TCP framing (RFC 1035 §4.2.2)', () => {
  it('reassembles messages split and joined across chunks', () => {
    const a = query('a.example', 'A', 1);
    const b = query('b.example', 'A', 2);
    const bytes = Buffer.concat([frame(a), frame(b)]);
    const reader = new FrameReader();
    expect(reader.push(bytes.subarray(0, 1))).to.deep.equal([]);
    expect(reader.push(bytes.subarray(1, a.length + 3))).to.deep.equal([a]);
    expect(reader.push(bytes.subarray(a.length + 3))).to.deep.equal([b]);
    expect(reader.pending).to.equal(0);
  });
});
