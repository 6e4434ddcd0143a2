import { expect } from 'chai';
import {
  addProxyHeaders,
  responseHeaders,
  scanRequestHeaders,
  HOPS_HEADER,
} from '../../sidecar/hop-headers.js';
import { parseAuthority, splitRequestTarget } from '../../sidecar/request-target.js';

const pairs = (flat: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};

describe('hop-headers', () => {
  it('drops hop-by-hop headers and those named in Connection, keeps end-to-end ones', () => {
    const scanned = scanRequestHeaders(
      [
        'Host',
        'my-app.ns:8080',
        'Connection',
        'keep-alive, X-Private',
        'Keep-Alive',
        'timeout=5',
        'X-Private',
        'secret',
        'TE',
        'trailers',
        'Transfer-Encoding',
        'chunked',
        'Proxy-Authorization',
        'Basic eA==',
        'Expect',
        '100-continue',
        'Traceparent',
        '00-abc-def-01',
        'Accept',
        'text/plain',
      ],
      'x-routing-api-key',
    );
    expect(scanned.host).to.equal('my-app.ns:8080');
    expect(scanned.chunked).to.equal(true);
    expect(pairs(scanned.forward)).to.deep.equal([
      ['Traceparent', '00-abc-def-01'],
      ['Accept', 'text/plain'],
    ]);
  });

  it('takes the API-key header out of the forwarded list, case-insensitively', () => {
    const scanned = scanRequestHeaders(['X-Routing-API-Key', 'k1', 'a', 'b'], 'x-routing-api-key');
    expect(scanned.apiKey).to.equal('k1');
    expect(scanned.forward).to.deep.equal(['a', 'b']);
  });

  it('keeps one content-length and reads the hop count', () => {
    const scanned = scanRequestHeaders(
      ['content-length', '5', 'Content-Length', '5', HOPS_HEADER, '3'],
      'x-k',
    );
    expect(scanned.contentLength).to.equal(5);
    expect(scanned.hops).to.equal(3);
    expect(pairs(scanned.forward)).to.deep.equal([['content-length', '5']]);
  });

  it('adds Host, X-Forwarded-*, the request id and the next hop count', () => {
    const scanned = scanRequestHeaders(
      [
        'X-Forwarded-For',
        '10.9.9.9',
        'X-Forwarded-Proto',
        'https',
        'x-request-id',
        'r-1',
        HOPS_HEADER,
        '1',
      ],
      'x-k',
    );
    const headers = addProxyHeaders(scanned, 'my-app.ns', '127.0.0.5', scanned.requestId ?? 'new');
    expect(Object.fromEntries(pairs(headers))).to.deep.equal({
      host: 'my-app.ns',
      'x-forwarded-for': '10.9.9.9, 127.0.0.5',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'my-app.ns',
      'x-request-id': 'r-1',
      [HOPS_HEADER]: '2',
    });
  });

  it('strips hop-by-hop response headers and keeps repeated ones', () => {
    const list = responseHeaders({
      'content-type': 'text/plain',
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-hop': '1',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(pairs(list)).to.deep.equal([
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
  });
});

describe('request-target', () => {
  it('splits origin-form, absolute-form and refuses what it cannot route', () => {
    expect(splitRequestTarget('/a?b')).to.deep.equal({ authority: undefined, path: '/a?b' });
    expect(splitRequestTarget('http://Host.ns:81/p/q?x=1')).to.deep.equal({
      authority: 'Host.ns:81',
      path: '/p/q?x=1',
    });
    expect(splitRequestTarget('http://host.ns')).to.deep.equal({ authority: 'host.ns', path: '/' });
    expect(splitRequestTarget('http://user:pw@host.ns/x')?.authority).to.equal('host.ns');
    expect(splitRequestTarget('https://host.ns/x')).to.equal(undefined);
    expect(splitRequestTarget('host.ns:443')).to.equal(undefined);
    expect(splitRequestTarget('*')).to.equal(undefined);
  });

  it('splits authorities with a default port', () => {
    expect(parseAuthority('a.ns', 80)).to.deep.equal({ name: 'a.ns', port: 80 });
    expect(parseAuthority('a.ns:8080', 80)).to.deep.equal({ name: 'a.ns', port: 8080 });
    expect(parseAuthority('a.ns:', 80)).to.deep.equal({ name: 'a.ns', port: 80 });
    expect(parseAuthority('[::1]:9000', 80)).to.deep.equal({ name: '::1', port: 9000 });
    expect(parseAuthority('[::1]', 80)).to.deep.equal({ name: '::1', port: 80 });
    expect(parseAuthority('10.1.2.3:81', 80)).to.deep.equal({ name: '10.1.2.3', port: 81 });
    expect(parseAuthority('fqdn.example.', 80)).to.deep.equal({ name: 'fqdn.example.', port: 80 });
  });

  it('refuses authorities no route or upstream can be', () => {
    for (const bad of [
      'a/b',
      'a?b',
      '%zz',
      'a%41',
      'a:b:c',
      'a b',
      'a.ns:99999',
      'a.ns:0',
      'a.ns:8o',
      'a..b',
      '.a',
      '[::1',
      '[::1]x',
      '[fe80::1%eth0]',
      '[not-v6]:80',
      'a@b',
      'x'.repeat(64),
      `${'a.'.repeat(127)}ab`,
      '\u00e9t\u00e9',
    ]) {
      expect(parseAuthority(bad, 80), bad).to.equal(undefined);
    }
  });
});
