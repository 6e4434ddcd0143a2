import type { HeaderRules } from '../shared/api-policy.js';

/**
 * An ApiPolicy's `requestHeaders` / `responseHeaders` applied to a flat `[name, value,
 * ...]` list: `remove` and `set` drop every copy of a name (any case), then `set` and
 * `add` append. The compiler already refused hop-by-hop, framing and API-key header
 * names (shared/api-policy.ts), so no rule can change how a message is framed.
 */
export function applyHeaderRules(list: readonly string[], rules: HeaderRules): string[] {
  const dropped = new Set<string>(rules.remove);
  for (const name of Object.keys(rules.set)) dropped.add(name);
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    if (dropped.size === 0 || !dropped.has(name.toLowerCase()))
      out.push(name, list[i + 1] as string);
  }
  for (const [name, value] of Object.entries(rules.set)) out.push(name, value);
  for (const [name, value] of Object.entries(rules.add)) out.push(name, value);
  return out;
}

/** Every copy of `names` (lower case) taken out of `list`, in place. */
export function dropHeaders(list: string[], names: readonly string[]): void {
  if (names.length === 0) return;
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    const name = list[r] as string;
    if (names.includes(name.toLowerCase())) continue;
    list[w] = name;
    list[w + 1] = list[r + 1] as string;
    w += 2;
  }
  list.length = w;
}

/** A header-rules step in words, for `detour routes --explain`; undefined when empty. */
export function describeHeaderRules(rules: HeaderRules | undefined): string | undefined {
  if (rules === undefined) return undefined;
  const parts: string[] = [];
  const set = Object.entries(rules.set).map(([n, v]) => `${n}: ${v}`);
  const add = Object.entries(rules.add).map(([n, v]) => `${n}: ${v}`);
  if (set.length > 0) parts.push(`set ${set.join(', ')}`);
  if (add.length > 0) parts.push(`add ${add.join(', ')}`);
  if (rules.remove.length > 0) parts.push(`remove ${rules.remove.join(', ')}`);
  return parts.length === 0 ? undefined : parts.join('; ');
}
