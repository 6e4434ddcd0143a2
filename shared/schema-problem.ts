import type { z } from 'zod';

/** The first issue of a failed check, naming the field: `spec.routes.0.path: ...`. */
export function schemaProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue === undefined ? '' : issue.path.map(String).join('.');
  return `${where === '' ? '(object)' : where}: ${issue?.message ?? 'invalid'}`;
}
