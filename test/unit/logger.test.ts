import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../shared/logger.js';

function capture(format: string): { lines: () => string[]; log: ReturnType<typeof createLogger> } {
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (d: string) => (text += d));
  const log = createLogger({ format, level: 'info', destination: out });
  return { lines: () => text.split('\n').filter((l) => l !== ''), log };
}

describe('logger', () => {
  it('writes one JSON object per line by default', async () => {
    const c = capture('json');
    c.log.info({ route: 'a/b', status: 200 }, 'request');
    await new Promise((r) => setImmediate(r));
    const record = JSON.parse(c.lines()[0]!) as Record<string, unknown>;
    expect(record).to.include({ route: 'a/b', status: 200, msg: 'request', level: 30 });
  });

  it('writes one logfmt-style line in text format, quoting values that could split it', async () => {
    const c = capture('text');
    c.log.warn({ path: '/a b\nFAKE level=ERROR', plain: '/nodejs', n: 3 }, 'odd request');
    await new Promise((r) => setImmediate(r));
    const lines = c.lines();
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/ WARN odd request /);
    expect(lines[0]).to.contain('path="/a b\\nFAKE level=ERROR"');
    expect(lines[0]).to.contain('plain=/nodejs');
    expect(lines[0]).to.contain('n=3');
  });
});
