import { BadInputError, errorMessage } from '../shared/errors.js';

/**
 * How deep a request body may nest before it is parsed at all. An AdmissionReview
 * wraps its Pod in two levels and no Pod field sits deeper than about 12, so 256 is
 * far beyond any real review, while a body of 3 MB of `[` would otherwise nest 3
 * million levels: JSON.parse copes (slowly), but everything after it that walks the
 * object recursively would not. Objects between the pod's own limit (pod-shape.ts) and
 * this one still get an admission response naming the field.
 */
export const MAX_BODY_DEPTH = 256;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Parses a JSON request body (UTF-8, RFC 8259 section 8.1) after a linear scan that
 * refuses it, without parsing, once it nests deeper than `maxDepth`. Throws
 * BadInputError saying what is wrong.
 * https://www.rfc-editor.org/rfc/rfc8259#section-8.1
 */
export function parseJsonBody(body: Buffer, maxDepth = MAX_BODY_DEPTH): unknown {
  if (body.length === 0) throw new BadInputError('empty request body: expected an AdmissionReview');
  const offset = depthExceededAt(body, maxDepth);
  if (offset !== undefined) {
    throw new BadInputError(
      `request body nests deeper than ${maxDepth} levels (at byte ${offset})`,
      { offset, maxDepth },
    );
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new BadInputError(`request body is not valid JSON: ${errorMessage(err)}`);
  }
}

/** The offset of the first `{`/`[` (outside strings) deeper than `max`, or undefined. */
function depthExceededAt(body: Buffer, max: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i += 1) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i += 1;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth += 1;
      if (depth > max) return i;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth -= 1;
  }
  return undefined;
}
