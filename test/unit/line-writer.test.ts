import { expect } from 'chai';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineWriter } from '../../sidecar/line-writer.js';

describe('line-writer', () => {
  let dir: string;
  let file: string;
  let fd: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'detour-line-writer-'));
    file = join(dir, 'out.log');
    fd = openSync(file, 'a');
  });
  afterEach(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes lines in order, a batch at most delayMs late', async () => {
    const writer = new LineWriter(fd, { delayMs: 10 });
    for (let i = 0; i < 1000; i++) writer.write(`line ${i}\n`);
    expect(readFileSync(file, 'utf8')).to.equal(''); // batched, not written per line
    const deadline = Date.now() + 5_000;
    while (readFileSync(file, 'utf8').split('\n').length < 1001 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).to.have.length(1000);
    expect(lines[0]).to.equal('line 0');
    expect(lines[999]).to.equal('line 999');
  });

  it('flushes synchronously before exit', () => {
    const writer = new LineWriter(fd, { delayMs: 60_000 });
    writer.write('last words\n');
    writer.flushSync();
    expect(readFileSync(file, 'utf8')).to.equal('last words\n');
  });

  it('drops and counts lines past maxPendingBytes instead of growing', async () => {
    const writer = new LineWriter(fd, { delayMs: 60_000, batchBytes: 16, maxPendingBytes: 10 });
    expect(writer.write('0123456789a\n')).to.equal(true); // longer than a batch: sent alone
    expect(writer.write('dropped\n')).to.equal(false); // 12 bytes still in flight
    expect(writer.dropped).to.equal(1);
    const deadline = Date.now() + 5_000;
    while (readFileSync(file, 'utf8') === '' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(readFileSync(file, 'utf8')).to.equal('0123456789a\n');
  });

  it('starts a new batch when the current one is full, keeping the order', async () => {
    const writer = new LineWriter(fd, { delayMs: 5, batchBytes: 64 });
    const lines = Array.from({ length: 50 }, (_, i) => `é-${i}\n`);
    for (const line of lines) writer.write(line);
    const deadline = Date.now() + 5_000;
    while (readFileSync(file, 'utf8') !== lines.join('') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(readFileSync(file, 'utf8')).to.equal(lines.join(''));
  });
});
