import { expect } from 'chai';
import {
  assignListeners,
  formatInboundMap,
  MAX_INBOUND_PORTS,
  parseInboundMap,
} from '../../shared/inbound-ports.js';

describe('inbound port map (shared by the webhook, detour init and detour proxy)', () => {
  it('gives each app port its listener, 15100 + i, in order', () => {
    expect(assignListeners([8080, 9090, 80])).to.deep.equal([
      { appPort: 8080, listenerPort: 15100 },
      { appPort: 9090, listenerPort: 15101 },
      { appPort: 80, listenerPort: 15102 },
    ]);
  });

  it('round-trips through the flag text', () => {
    const map = assignListeners([8080, 9090]);
    expect(formatInboundMap(map)).to.equal('8080=15100,9090=15101');
    expect(parseInboundMap(formatInboundMap(map))).to.deep.equal(map);
    expect(parseInboundMap(' 8080=15100, 9090=15101 ')).to.deep.equal(map);
    expect(parseInboundMap('')).to.deep.equal([]);
  });

  it('allows 64 ports and refuses 65', () => {
    const ports = Array.from({ length: MAX_INBOUND_PORTS + 1 }, (_, i) => 20000 + i);
    expect(assignListeners(ports.slice(0, 64)).at(-1)).to.deep.equal({
      appPort: 20063,
      listenerPort: 15163,
    });
    expect(() => assignListeners(ports)).to.throw('65 ports, at most 64');
  });

  for (const [text, reason] of [
    ['15000=15100', "detour's own range"],
    ['8080=15100,15199=15101', "detour's own range"],
    ['8080=15100,8080=15101', 'listed twice'],
    ['8080=15100,9090=15100', 'used twice'],
    ['8080', 'APP_PORT=LISTENER_PORT'],
    ['0=15100', 'APP_PORT=LISTENER_PORT'],
    ['8080=65536', 'APP_PORT=LISTENER_PORT'],
    ['8080:15100', 'APP_PORT=LISTENER_PORT'],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} (${reason})`, () => {
      expect(() => parseInboundMap(text)).to.throw(reason);
    });
  }
});
