/**
 * Label and field selectors as the API server parses them.
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
 * https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
 */
import type { KubeObject } from './resources.js';

type Labels = Readonly<Record<string, string>>;
export type LabelPredicate = (labels: Labels) => boolean;
export type ObjectPredicate = (obj: KubeObject) => boolean;

export class SelectorError extends Error {}

/** Splits on commas that are not inside `( ... )` (set-based terms carry commas). */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function labelTerm(term: string): LabelPredicate {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set !== null) {
    const [, key = '', op, list = ''] = set;
    const values = new Set(list.split(',').map((v) => v.trim()));
    return op === 'in'
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (cmp !== null) {
    const [, key = '', op, value = ''] = cmp;
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const notExists = /^!\s*([^=!\s]+)$/.exec(term);
  if (notExists !== null) {
    const key = notExists[1] ?? '';
    return (l) => l[key] === undefined;
  }
  if (/^[^=!\s()]+$/.test(term)) return (l) => l[term] !== undefined;
  throw new SelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
}

export function parseLabelSelector(selector: string | null): LabelPredicate {
  if (selector === null || selector.trim() === '') return () => true;
  const terms = splitTerms(selector).map(labelTerm);
  return (labels) => terms.every((t) => t(labels));
}

/** The fields every resource supports, plus the few per-kind ones detour's code uses. */
function fieldValue(obj: KubeObject, field: string): string | undefined {
  switch (field) {
    case 'metadata.name':
      return obj.metadata.name ?? '';
    case 'metadata.namespace':
      return obj.metadata.namespace ?? '';
    case 'status.phase':
    case 'spec.nodeName':
    case 'type': {
      const value = field
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
      return typeof value === 'string' ? value : '';
    }
    default:
      return undefined;
  }
}

export function parseFieldSelector(selector: string | null): ObjectPredicate {
  if (selector === null || selector.trim() === '') return () => true;
  const terms = splitTerms(selector).map((term): ObjectPredicate => {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (m === null) throw new SelectorError(`invalid field selector: ${JSON.stringify(term)}`);
    const [, field = '', op, value = ''] = m;
    return (obj) => {
      const actual = fieldValue(obj, field);
      if (actual === undefined) {
        throw new SelectorError(`field label not supported: ${field}`);
      }
      return op === '!=' ? actual !== value : actual === value;
    };
  });
  return (obj) => terms.every((t) => t(obj));
}

/** Validates a field selector's field names up front, as the API server does (400). */
export function checkFieldSelector(selector: string | null, probe: KubeObject): void {
  parseFieldSelector(selector)(probe);
}
