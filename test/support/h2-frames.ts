import { H2_PREFACE } from '../../sidecar/h2/preface.js';
import { rawBytes } from './proxy.js';

/**
 * Raw HTTP/2 frames for tests that must send what no well-behaved client sends
 * (RFC 9113 §4.1: 9-byte header, then the payload). Header blocks use HPACK literals
 * without indexing and without Huffman coding (RFC 7541 §6.2.2), enough to build any
 * request by hand.
 */
export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  GOAWAY: 0x7,
  CONTINUATION: 0x9,
} as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A header block of literal fields (no indexing, no Huffman). */
export function headerBlock(headers: readonly [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7, 0)]), n);
    parts.push(Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

/** The preface and an empty SETTINGS frame: what every client sends first. */
export function opening(): Buffer {
  return Buffer.concat([H2_PREFACE, frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0))]);
}

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits received bytes into frames (a trailing partial frame is left out). */
export function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let at = 0;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({
      type: bytes[at + 3] as number,
      flags: bytes[at + 4] as number,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return frames;
}

/** The error code of the first GOAWAY among `frames` (undefined: none). */
export function goawayCode(frames: readonly Frame[]): number | undefined {
  const goaway = frames.find((f) => f.type === FRAME.GOAWAY);
  return goaway?.payload.readUInt32BE(4);
}

/** Writes `bytes` to 127.0.0.1:port and collects everything until the server closes. */
export function rawH2(port: number, bytes: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return rawBytes(port, bytes, timeoutMs);
}
