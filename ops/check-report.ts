/**
 * What `detour check` found, and how it prints: grouped lines as `linkerd check` prints
 * them (√ / ×, a hint under each failure), or the same facts as JSON for scripts.
 */
export type CheckOutcome = 'pass' | 'fail' | 'skip';

export interface CheckLine {
  group: string;
  description: string;
  outcome: CheckOutcome;
  /** What went wrong (failures) or why the check did not run (skips). */
  detail?: string;
  /** What to do about a failure. */
  hint?: string;
  /** The object at fault: `namespace/name`, or a name for cluster-scoped objects. */
  culprit?: string;
}

export function pass(group: string, description: string): CheckLine {
  return { group, description, outcome: 'pass' };
}

export function fail(
  group: string,
  description: string,
  facts: { detail: string; hint: string; culprit?: string | undefined },
): CheckLine {
  return {
    group,
    description,
    outcome: 'fail',
    detail: facts.detail,
    hint: facts.hint,
    ...(facts.culprit === undefined ? {} : { culprit: facts.culprit }),
  };
}

export function skip(group: string, description: string, detail: string): CheckLine {
  return { group, description, outcome: 'skip', detail };
}

export function failed(lines: readonly CheckLine[]): boolean {
  return lines.some((l) => l.outcome === 'fail');
}

const MARK: Record<CheckOutcome, string> = { pass: '√', fail: '×', skip: '-' };

/** Text: one block per group, in the order the groups first appear. */
export function formatText(lines: readonly CheckLine[]): string {
  const groups = new Map<string, CheckLine[]>();
  for (const line of lines) {
    const list = groups.get(line.group) ?? [];
    list.push(line);
    groups.set(line.group, list);
  }
  const out: string[] = [];
  for (const [group, members] of groups) {
    out.push(group, '-'.repeat(group.length));
    for (const line of members) {
      const culprit = line.culprit === undefined ? '' : ` [${line.culprit}]`;
      out.push(`${MARK[line.outcome]} ${line.description}${culprit}`);
      if (line.detail !== undefined) out.push(`    ${line.detail}`);
      if (line.hint !== undefined) out.push(`    hint: ${line.hint}`);
    }
    out.push('');
  }
  const failures = lines.filter((l) => l.outcome === 'fail').length;
  out.push(
    failures === 0
      ? 'Status check results are √'
      : `Status check results are × (${failures} failed)`,
  );
  return out.join('\n') + '\n';
}

/** JSON: linkerd's shape (`success`, `categories[].checks[]`) with detour's fields. */
export function formatJson(lines: readonly CheckLine[]): string {
  const categories: { categoryName: string; checks: Omit<CheckLine, 'group'>[] }[] = [];
  for (const { group, ...check } of lines) {
    let category = categories.find((c) => c.categoryName === group);
    if (category === undefined) {
      category = { categoryName: group, checks: [] };
      categories.push(category);
    }
    category.checks.push(check);
  }
  return JSON.stringify({ success: !failed(lines), categories }, null, 2) + '\n';
}
