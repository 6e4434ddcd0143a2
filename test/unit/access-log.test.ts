import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { AccessLog, type LogFacts } from '../../sidecar/access-log.js';

function capture(format: string): { log: AccessLog; lines: () => string[] } {
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (d: string) => (text += d));
  return {
    log: new AccessLog({ format, destination: out }),
    lines: () => text.trimEnd().split('\n'),
  };
}

const facts: LogFacts = {
  method: 'POST',
  host: 'my-app.ns',
  path: '/a "quoted"\\path\n?q=é',
  routeLabel: 'my-app.ns/a',
  upstream: { key: '10.0.0.1:80' },
  bytesIn: 5,
  bytesOut: 7,
  requestId: 'r-1',
  error: undefined,
  direction: 'inbound',
  protocol: 'http',
  policy: undefined,
  auth: undefined,
  authMs: undefined,
  rateLimited: undefined,
};

describe('access-log', () => {
  it('writes one JSON line in pino format, escaping what needs it', () => {
    const { log, lines } = capture('json');
    log.write(facts, 201, 1.23456);
    log.write({ ...facts, upstream: undefined, error: 'DETOUR_E_NO_ENDPOINT' }, 503, 0.1);
    const [first = '', second = ''] = lines();
    const record = JSON.parse(first) as Record<string, unknown>;
    expect(record).to.deep.equal({
      level: 30,
      time: record.time,
      method: 'POST',
      host: 'my-app.ns',
      path: '/a "quoted"\\path\n?q=é',
      status: 201,
      route: 'my-app.ns/a',
      upstream: '10.0.0.1:80',
      durationMs: 1.235,
      bytesIn: 5,
      bytesOut: 7,
      requestId: 'r-1',
      direction: 'inbound',
      protocol: 'http',
      msg: 'request',
    });
    expect(Date.parse(record.time as string)).to.be.closeTo(Date.now(), 5_000);
    expect(JSON.parse(second)).to.include({
      upstream: '-',
      status: 503,
      error: 'DETOUR_E_NO_ENDPOINT',
    });
    expect(JSON.parse(first)).to.not.have.property('policy');
  });

  it('adds the ApiPolicy fields when a policy applied', () => {
    const { log, lines } = capture('json');
    log.write(
      { ...facts, policy: 'ns/p', auth: 'allowed', authMs: 1.5, rateLimited: true },
      429,
      0.2,
    );
    expect(JSON.parse(lines()[0] ?? '')).to.include({
      policy: 'ns/p',
      auth: 'allowed',
      authMs: 1.5,
      rateLimited: true,
    });
  });

  it('writes one human line with LOG_FORMAT=text', () => {
    const { log, lines } = capture('text');
    log.write({ ...facts, path: '/a?q=1' }, 200, 2);
    expect(lines()[0]).to.match(
      /^\S+Z INFO request method=POST host=my-app.ns path=\/a\?q=1 status=200 route=my-app.ns\/a upstream=10.0.0.1:80 durationMs=2 bytesIn=5 bytesOut=7 requestId=r-1 direction=inbound protocol=http$/,
    );
  });
});
