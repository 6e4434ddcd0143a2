import { expect } from 'chai';
import { Upstreams, type UpstreamEvent } from '../../sidecar/upstreams.js';
import { RouteTable, type Route } from '../../sidecar/route-table.js';
import { privateTable } from '../support/route-tables.js';

function route(ips: string[]): Route {
  const table = RouteTable.fromResources([
    privateTable('ns', [
      { host: 'a.ns', path: '/', endpoints: ips.map((ip) => ({ ip, port: 80, pod: ip })) },
    ]),
  ]);
  const match = table.match('a.ns', '/');
  if (match.kind !== 'route') throw new Error('no route');
  return match.route;
}

describe('upstreams', () => {
  let upstreams: Upstreams;
  let events: UpstreamEvent[];
  beforeEach(() => {
    events = [];
    upstreams = new Upstreams({ consecutive5xx: 3, ejectBaseMs: 60_000 }, (e) => events.push(e));
  });
  afterEach(() => upstreams.destroy());

  it('picks endpoints round robin', () => {
    const r = route(['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    const keys = Array.from({ length: 6 }, () => upstreams.pick(r)?.key);
    expect(keys).to.deep.equal([
      '127.0.0.2:80',
      '127.0.0.3:80',
      '127.0.0.4:80',
      '127.0.0.2:80',
      '127.0.0.3:80',
      '127.0.0.4:80',
    ]);
  });

  it('has nothing to pick for a route without endpoints', () => {
    expect(upstreams.pick(route([]))).to.equal(undefined);
  });

  it('skips an endpoint ejected after a connect failure, and excludes the retried one', () => {
    const r = route(['127.0.0.2', '127.0.0.3']);
    const first = upstreams.pick(r)!;
    upstreams.connectFailed(first);
    expect(events).to.deep.equal([
      { kind: 'ejected', key: '127.0.0.2:80', reason: 'connect', forMs: 60_000 },
    ]);
    expect([upstreams.pick(r)?.key, upstreams.pick(r)?.key]).to.deep.equal([
      '127.0.0.3:80',
      '127.0.0.3:80',
    ]);
    const other = upstreams.pick(r)!;
    expect(upstreams.pick(r, other)?.key).to.equal('127.0.0.2:80'); // panic: all else ejected
  });

  it('ejects after consecutive 5xx only', () => {
    const r = route(['127.0.0.2', '127.0.0.3']);
    const u = upstreams.pick(r)!;
    upstreams.answered(u, 503);
    upstreams.answered(u, 503);
    upstreams.answered(u, 200);
    upstreams.answered(u, 500);
    upstreams.answered(u, 502);
    expect(upstreams.isEjected(u.key)).to.equal(false);
    upstreams.answered(u, 504);
    expect(upstreams.isEjected(u.key)).to.equal(true);
    expect(events.map((e) => (e.kind === 'ejected' ? e.reason : e.kind))).to.deep.equal(['5xx']);
  });
});
