import { Transform, type TransformCallback } from 'node:stream';
import { DetourError } from '../../shared/errors.js';
import type { Policy, PolicyRequest, Verdict } from './policy.js';

/**
 * CLIENT_MAX_BODY_SIZE, as nginx's `client_max_body_size`: a declared Content-Length
 * over the limit is refused before anything is forwarded; a chunked body is counted while
 * it streams (limitBody) and cut off when it crosses the limit. 0 disables the limit.
 * http://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size
 */
export class BodySizePolicy implements Policy {
  readonly name = 'body-size';
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  check(request: PolicyRequest): Verdict {
    const length = request.headers.contentLength;
    if (this.limit > 0 && length > this.limit) {
      return {
        code: 'DETOUR_E_BODY_TOO_LARGE',
        detail: `${length} > ${this.limit} bytes`,
        close: true,
      };
    }
    return undefined;
  }
}

export class BodyTooLargeError extends DetourError {
  constructor(limit: number) {
    super('DETOUR_E_BODY_TOO_LARGE', `request body larger than ${limit} bytes`, { limit });
  }
}

/** Counts a streamed body and fails with BodyTooLargeError once it exceeds `limit`. */
export class BodyLimit extends Transform {
  readonly #limit: number;
  #seen = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) {
      callback(new BodyTooLargeError(this.#limit));
      return;
    }
    callback(null, chunk);
  }
}
