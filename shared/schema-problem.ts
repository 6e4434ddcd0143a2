/** What a failed zod check reports (classic or mini): its issues, each with a path. */
export interface SchemaIssues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** The first issue of a failed check, naming the field: `spec.routes.0.path: ...`. */
export function schemaProblem(error: SchemaIssues): string {
  const issue = error.issues[0];
  const where = issue === undefined ? '' : issue.path.map(String).join('.');
  return `${where === '' ? '(object)' : where}: ${issue?.message ?? 'invalid'}`;
}
