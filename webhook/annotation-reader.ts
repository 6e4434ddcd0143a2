import { BadAnnotationError } from '../shared/errors.js';

/** Reads one annotation through a parser; undefined when the pod does not set it. */
export type AnnotationReader = <T>(key: string, parse: (value: string) => T) => T | undefined;

/**
 * A reader over the pod's annotations: a parser's plain Error becomes a
 * BadAnnotationError naming the annotation and the value, so every refusal says which
 * key to fix.
 */
export function annotationReader(
  annotations: Readonly<Record<string, string>>,
  errors: BadAnnotationError[],
): AnnotationReader {
  return <T>(key: string, parse: (value: string) => T): T | undefined => {
    const value = annotations[key];
    if (value === undefined) return undefined;
    try {
      return parse(value);
    } catch (err) {
      // Collected, not thrown: every bad annotation is named in one refusal.
      errors.push(new BadAnnotationError(key, value, (err as Error).message));
      return undefined;
    }
  };
}
