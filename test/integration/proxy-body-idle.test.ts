import { expect } from 'chai';
import { rawExchange, send, startProxy, type TestProxy } from '../support/proxy.js';
import { startUpstream, tableResource, type TestUpstream } from '../support/upstream.js';

/**
 * Regression, found by the soak test: a request body that went silent after its head
 * was forwarded made the upstream exchange answer 502 first, and the idle-timeout
 * callback then called `destroySoon` on the detached (null) socket: a TypeError outside
 * any guard, which ended the proxy process. Now: 408 `DETOUR_E_BODY_TIMEOUT`, the
 * connection closed, the process alive.
 */
describe('proxy: a request body that goes silent mid-way', function () {
  this.timeout(20_000);
  let up: TestUpstream;
  let proxy: TestProxy;

  before(async () => {
    up = await startUpstream('idle', '127.0.0.7');
    proxy = await startProxy({
      resources: [tableResource('ns', [{ host: 'idle.ns', path: '/', upstreams: [up] }])],
      timeouts: { bodyIdleMs: 500 },
    });
  });

  after(async () => {
    await proxy.close();
    await up.close();
  });

  for (const [framing, head, part] of [
    ['content-length', 'Content-Length: 100', 'only ten b'],
    ['chunked', 'Transfer-Encoding: chunked', 'a\r\nonly ten b\r\n'],
  ] as const) {
    it(`${framing}: answers 408 DETOUR_E_BODY_TIMEOUT, closes the connection and keeps serving`, async () => {
      const seen = up.seen.length;
      const started = Date.now();
      const answer = await rawExchange(
        proxy.port,
        `POST /upload HTTP/1.1\r\nHost: idle.ns\r\n${head}\r\n\r\n${part}`,
        5_000,
      );
      expect(answer).to.match(/^HTTP\/1\.1 408 /);
      expect(answer).to.include('x-detour-error: DETOUR_E_BODY_TIMEOUT');
      expect(Date.now() - started).to.be.below(3_000);
      // The head had gone on: the upstream saw the request, and its exchange was stopped.
      expect(up.seen.length).to.equal(seen + 1);
      const internal = proxy.log.filter((line) => line.code === 'DETOUR_E_INTERNAL');
      expect(internal).to.deep.equal([]);
      expect((await send(proxy.origin, 'idle.ns', '/after')).status).to.equal(200);
    });
  }
});
