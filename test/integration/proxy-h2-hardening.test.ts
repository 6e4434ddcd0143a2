import { expect } from 'chai';
import http2 from 'node:http2';
import { startProxy, send, type TestProxy } from '../support/proxy.js';
import { startH2Pair } from '../support/h2-upstream.js';
import {
  FRAME,
  frame,
  goawayCode,
  headerBlock,
  opening,
  parseFrames,
  rawH2,
} from '../support/h2-frames.js';
import { H2_PREFACE } from '../../sidecar/h2/preface.js';

const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_COMPRESSION_ERROR } =
  http2.constants;
const NGHTTP2_INTERNAL_ERROR = http2.constants.NGHTTP2_INTERNAL_ERROR;
const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

/** A request's HEADERS frame, built by hand. */
function request(streamId: number, path: string, flags = 0x4): Buffer {
  return frame(
    FRAME.HEADERS,
    flags,
    streamId,
    headerBlock([
      [':method', 'GET'],
      [':path', path],
      [':scheme', 'http'],
      [':authority', 'h2.ns'],
    ]),
  );
}

/**
 * Bad input on the h2c side (RFC 9113 §5.4.1): nghttp2 ends the offending connection with
 * GOAWAY and the code each case calls for; the process and every other connection carry
 * on. The codes pinned here are what Node 24 sends: a change shows up as a failure.
 */
describe('detour proxy: HTTP/2 bad input', function () {
  this.timeout(30_000);
  let p: TestProxy;
  /** A long-lived HTTP/2 connection that must survive every other connection's abuse. */
  let bystander: http2.ClientHttp2Session;

  let pair: Awaited<ReturnType<typeof startH2Pair>>;

  before(async () => {
    pair = await startH2Pair();
    ({ p } = pair);
    bystander = http2.connect(`http://127.0.0.1:${p.port}`);
    bystander.on('error', () => undefined);
  });

  after(async () => {
    bystander.close();
    await pair.close();
  });

  /** The bystander connection and a new HTTP/1.1 one still work. */
  async function othersUnaffected(): Promise<void> {
    const answer = await new Promise<string>((resolve, reject) => {
      const req = bystander.request({ ':path': '/still-here', ':authority': 'h2.ns' });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        resolve(body);
      });
      req.on('error', reject);
    });
    expect(JSON.parse(answer)).to.include({ name: 'h2', path: '/still-here' });
    const res = await send(p.origin, 'h1.ns', '/h1');
    expect(res.status).to.equal(200);
  }

  it('a preface followed by garbage: GOAWAY PROTOCOL_ERROR', async () => {
    const got = await rawH2(
      p.port,
      Buffer.concat([H2_PREFACE, Buffer.from('this is not a frame, not at all, not even close')]),
    );
    expect(goawayCode(parseFrames(got))).to.equal(NGHTTP2_PROTOCOL_ERROR);
    await othersUnaffected();
  });

  it('a malformed frame (SETTINGS on a stream): GOAWAY PROTOCOL_ERROR', async () => {
    const got = await rawH2(
      p.port,
      Buffer.concat([opening(), frame(FRAME.SETTINGS, 0, 1, Buffer.alloc(6))]),
    );
    expect(goawayCode(parseFrames(got))).to.equal(NGHTTP2_PROTOCOL_ERROR);
    await othersUnaffected();
  });

  it('a SETTINGS frame with more entries than allowed (32): GOAWAY ENHANCE_YOUR_CALM', async () => {
    const entries = Buffer.alloc(6 * 40);
    for (let i = 0; i < 40; i++) {
      entries.writeUInt16BE(0x3, i * 6);
      entries.writeUInt32BE(100, i * 6 + 2);
    }
    const got = await rawH2(
      p.port,
      Buffer.concat([H2_PREFACE, frame(FRAME.SETTINGS, 0, 0, entries)]),
    );
    expect(goawayCode(parseFrames(got))).to.equal(NGHTTP2_ENHANCE_YOUR_CALM);
    await othersUnaffected();
  });

  it('a SETTINGS flood whose ACKs are never read: the connection is torn down', async () => {
    const flood: Buffer[] = [H2_PREFACE];
    for (let i = 0; i < 20_000; i++) flood.push(frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0)));
    const got = await rawH2(p.port, Buffer.concat(flood));
    // nghttp2 counts unanswered ACKs (CVE-2019-9515) and Node ends the session.
    expect(goawayCode(parseFrames(got))).to.equal(NGHTTP2_INTERNAL_ERROR);
    await othersUnaffected();
  });

  it('too many concurrent streams: REFUSED_STREAM beyond 256, then GOAWAY', async () => {
    const streams: Buffer[] = [opening()];
    // Requests without END_STREAM stay open: 400 of them at once.
    for (let i = 0; i < 400; i++) streams.push(request(1 + 2 * i, `/open/${i}`));
    const frames = parseFrames(await rawH2(p.port, Buffer.concat(streams)));
    const refused = frames.filter(
      (f) => f.type === FRAME.RST_STREAM && f.payload.readUInt32BE(0) === REFUSED_STREAM,
    );
    expect(refused.length).to.be.at.least(100);
    expect(Math.min(...refused.map((f) => f.streamId))).to.be.above(2 * 256);
    expect(goawayCode(frames)).to.not.equal(undefined);
    await othersUnaffected();
  });

  it('a header block over 64 KiB: GOAWAY COMPRESSION_ERROR, before any routing', async () => {
    const block = headerBlock([
      [':method', 'GET'],
      [':path', '/'],
      [':scheme', 'http'],
      [':authority', 'h2.ns'],
      ['x-big', 'a'.repeat(70_000)],
    ]);
    const frames: Buffer[] = [opening(), frame(FRAME.HEADERS, 0x1, 1, block.subarray(0, 16_000))];
    for (let at = 16_000; at < block.length; at += 16_000) {
      const last = at + 16_000 >= block.length;
      frames.push(frame(FRAME.CONTINUATION, last ? 0x4 : 0, 1, block.subarray(at, at + 16_000)));
    }
    const before = p.log.length;
    const got = await rawH2(p.port, Buffer.concat(frames));
    expect(goawayCode(parseFrames(got))).to.equal(NGHTTP2_COMPRESSION_ERROR);
    expect(p.log.length).to.equal(before);
    await othersUnaffected();
  });

  it('a client that sends part of the preface and stops is hung up on', async () => {
    const slow = await startProxy({ timeouts: { headersMs: 300 }, resources: [] });
    try {
      const started = Date.now();
      const got = await rawH2(slow.port, H2_PREFACE.subarray(0, 10));
      expect(got.length).to.equal(0);
      expect(Date.now() - started).to.be.below(3_000);
    } finally {
      await slow.close();
    }
  });
});
