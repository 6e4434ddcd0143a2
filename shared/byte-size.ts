/**
 * Sizes in nginx's syntax, as the seed's CLIENT_MAX_BODY_SIZE took them: a number of
 * bytes with an optional `k`/`K` or `m`/`M` (and `g`/`G`) suffix; `0` disables the limit.
 * http://nginx.org/en/docs/syntax.html
 */
export function parseByteSize(value: string): number {
  const match = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (match === null) {
    throw new Error('expected a size such as 0, 512k or 1m');
  }
  const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  const unit = units[(match[2] ?? '').toLowerCase()] ?? 1;
  return Number(match[1]) * unit;
}
