import YAML from 'yaml';
import { DetourError } from '../shared/errors.js';
import { DOMAIN } from '../shared/labels.js';
import { isObject } from './admission-review.js';
import { formatPath } from './field-path.js';
import { injectionOutcome } from './injection-outcome.js';
import type { InjectorConfig } from './injector-config.js';
import { templatePath } from './pod-templates.js';
import { inlineAliases, updateNode } from './yaml-node-update.js';
import { documentValue, readYamlStream } from './yaml-stream.js';

export interface ManifestReport {
  /** `Kind/name` of each object, what happened to it, and the warnings it earned. */
  objects: {
    ref: string;
    result: 'injected' | 'skipped' | 'unchanged' | 'passed-through' | 'refused';
    reason?: string;
    warnings: string[];
  }[];
  /** Every refusal of the stream (a malformed pod, bad annotations), each naming its object. */
  refusals: DetourError[];
}

export interface ManifestOptions {
  /** The namespace of objects that name none. */
  defaultNamespace: string;
  /** The input's name in error messages (`FILE:LINE:COLUMN`). */
  file: string;
}

/**
 * `detour inject`'s core: every document of a multi-document YAML stream, Pods and pod
 * templates injected through the webhook's own steps (injection-outcome.ts), so both
 * refuse the same input with the same message. A document we do not change is printed
 * byte for byte; one we change is edited in place (yaml-node-update.ts), so its
 * comments, quoting and YAML 1.1 scalars survive. A `List` (what `kubectl get -o yaml`
 * prints) is handled item by item.
 *
 * Manual injection is a request to inject, so the namespace label is not consulted (as
 * with `istioctl kube-inject`); the pod's own opt-out, hostNetwork and the system
 * namespaces still win. Refusals are collected for the whole stream, not just the first.
 * Unreadable YAML throws BadInputError saying where.
 */
export function injectManifests(
  text: string,
  config: InjectorConfig,
  options: ManifestOptions,
): { output: string; report: ManifestReport } {
  const report: ManifestReport = { objects: [], refusals: [] };
  const output = readYamlStream(text, options.file).map(({ source, doc, style }) => {
    if (doc === undefined) return source;
    const value = documentValue(doc, options.file);
    if (!isObject(value)) return source;
    const changed = objectsOf(value).filter(([path, object]) =>
      injectObject(doc, path, object, { config, options, report }),
    );
    return changed.length > 0 ? doc.toString(style) : source;
  });
  return { output: output.join(''), report };
}

type Located = [path: readonly (string | number)[], object: Record<string, unknown>];

function objectsOf(value: Record<string, unknown>): Located[] {
  if (value.kind !== 'List' || !Array.isArray(value.items)) return [[[], value]];
  return value.items.flatMap((item, i): Located[] =>
    isObject(item) ? [[['items', i], item]] : [],
  );
}

interface Context {
  config: InjectorConfig;
  options: ManifestOptions;
  report: ManifestReport;
}

/** Injects one object's pod template into `doc` at `at`; true when it changed. */
function injectObject(
  doc: YAML.Document,
  at: readonly (string | number)[],
  object: Record<string, unknown>,
  { config, options, report }: Context,
): boolean {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const name = [metadata.name, metadata.generateName].find((n) => typeof n === 'string');
  const ref = `${typeof object.kind === 'string' ? object.kind : '?'}/${name ?? '?'}`;
  const path = templatePath(object);
  if (path === undefined) {
    report.objects.push({ ref, result: 'passed-through', warnings: [] });
    return false;
  }
  // Walk to the template; a step that is not an object is the pod's to report.
  let template: unknown = object;
  let depth = 0;
  for (; depth < path.length && isObject(template); depth += 1) {
    template = template[path[depth] ?? ''];
  }
  if (template === undefined || template === null) {
    report.objects.push({ ref, result: 'passed-through', reason: 'no pod template', warnings: [] });
    return false;
  }
  const outcome = injectionOutcome(template, {
    config,
    defaultNamespace: options.defaultNamespace,
    ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
    path: path.slice(0, depth),
    what: object.kind === 'Pod' ? 'pod' : 'pod template',
  });
  const warnings = [...misplacedKeys(object, path), ...outcome.warnings];
  switch (outcome.result) {
    case 'refused': {
      const { error } = outcome;
      const message = `${error.message} (in ${ref})`;
      report.refusals.push(
        new DetourError(error.code, message, { ...error.details, object: ref }, { cause: error }),
      );
      report.objects.push({ ref, result: 'refused', reason: error.message, warnings });
      return false;
    }
    case 'skipped':
    case 'unchanged':
      report.objects.push({ ref, result: outcome.result, reason: outcome.reason, warnings });
      return false;
    case 'injected':
      updateAt(doc, [...at, ...path], template, outcome.injected);
      report.objects.push({ ref, result: 'injected', warnings });
      return true;
  }
}

/**
 * `detour.dev/` keys on a workload's own metadata, where they are easily put by mistake:
 * the pods it creates do not inherit them, and detour reads the pod template's.
 */
function misplacedKeys(object: Record<string, unknown>, path: readonly string[]): string[] {
  if (path.length === 0 || !isObject(object.metadata)) return [];
  const where = formatPath([...path, 'metadata']);
  return (['labels', 'annotations'] as const).flatMap((field) => {
    const map = (object.metadata as Record<string, unknown>)[field];
    return isObject(map)
      ? Object.keys(map)
          .filter((key) => key.startsWith(`${DOMAIN}/`))
          .map(
            (key) =>
              `detour: ${key} in metadata.${field} of the ${String(object.kind)} is ignored; detour reads the pod template's (${where}.${field})`,
          )
      : [];
  });
}

/** Edits the node at `path` from `before` to `after`, keeping what did not change. */
function updateAt(
  doc: YAML.Document,
  path: readonly (string | number)[],
  before: unknown,
  after: unknown,
): void {
  inlineAliases(doc);
  if (path.length === 0) {
    doc.contents = updateNode(doc, doc.contents, before, after) as typeof doc.contents;
    return;
  }
  const node = doc.getIn(path, true);
  const updated = updateNode(doc, node, before, after);
  if (updated !== node) doc.setIn(path, updated);
}
