/**
 * Code-point order, independent of the process locale (`localeCompare` is not), so that
 * sorted output is the same on every machine: the compiler's determinism depends on it.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
