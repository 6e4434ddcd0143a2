import { isObject } from './admission-review.js';

/**
 * The value without null object members, as the API server's decoder sees it: the
 * same object where there is none (the API server never sends nulls), else a copy of
 * the parts that had some. Called only after the depth check, so the recursion is
 * bounded. A `__proto__` key stays an ordinary member, never a prototype.
 */
export function withoutNullMembers(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(withoutNullMembers);
    return items.some((item, i) => item !== value[i]) ? items : value;
  }
  if (!isObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, member] of Object.entries(value)) {
    const kept = member === null ? undefined : withoutNullMembers(member);
    if (kept === member && copy === undefined) continue;
    copy ??= copyUntil(value, key);
    if (kept !== undefined) define(copy, key, kept);
  }
  return copy ?? value;
}

/** The members of `value` before `stop`, in order. */
function copyUntil(value: Record<string, unknown>, stop: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (key === stop) break;
    define(copy, key, member);
  }
  return copy;
}

function define(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else object[key] = value;
}
