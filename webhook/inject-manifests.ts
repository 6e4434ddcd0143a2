import YAML from 'yaml';
import { BadAnnotationError, BadInputError } from '../shared/errors.js';
import { isObject } from './admission-review.js';
import { decideInjection } from './injection-decision.js';
import { injectPod } from './inject-pod.js';
import type { InjectorConfig } from './injector-config.js';
import type { Pod } from './pod-types.js';
import { podTemplateOf } from './pod-templates.js';

export interface ManifestReport {
  /** `Kind/name` of each object and what happened to it. */
  objects: {
    ref: string;
    result: 'injected' | 'skipped' | 'unchanged' | 'passed-through';
    reason?: string;
  }[];
}

/**
 * `detour inject`'s core: every document of a multi-document YAML stream, Pods and pod
 * templates injected with the webhook's own function, everything else (and every
 * document we did not change) printed exactly as it came, comments included. A `List`
 * (what `kubectl get -o yaml` prints) is handled item by item.
 *
 * Manual injection is a request to inject, so the namespace label is not consulted (as
 * with `istioctl kube-inject`); the pod's own opt-out, hostNetwork and the system
 * namespaces still win. A refusal throws BadAnnotationError naming the object.
 */
export function injectManifests(
  text: string,
  config: InjectorConfig,
  defaultNamespace: string,
): { output: string; report: ManifestReport } {
  const report: ManifestReport = { objects: [] };
  // Work on the CST so that every document we do not change is printed byte for byte
  // as it came (comments, flow style, quoting); only injected documents are re-rendered.
  const pieces: string[] = [];
  let index = 0;
  for (const token of new YAML.Parser().parse(text)) {
    const source = YAML.CST.stringify(token);
    if (token.type !== 'document') {
      if (token.type === 'error')
        throw new BadInputError(`input is not valid YAML: ${token.message}`);
      pieces.push(source);
      continue;
    }
    index += 1;
    const [doc] = [...new YAML.Composer().compose([token])];
    const firstError = doc?.errors[0];
    if (doc === undefined || firstError !== undefined) {
      throw new BadInputError(
        `document ${index} is not valid YAML: ${firstError?.message ?? 'empty'}`,
        {
          index,
        },
      );
    }
    const object: unknown = doc.toJS();
    if (!isObject(object) || !injectObject(object, config, defaultNamespace, report)) {
      pieces.push(source);
      continue;
    }
    pieces.push(
      render(
        doc,
        object,
        token.start.some((t) => t.type === 'doc-start'),
      ),
    );
  }
  return { output: pieces.join(''), report };
}

/** The injected object as YAML, keeping the document's leading comment and `---`. */
function render(original: YAML.Document, object: unknown, docStart: boolean): string {
  const fresh = new YAML.Document(object, { aliasDuplicateObjects: false });
  const contents = original.contents;
  // A comment on the document's first line belongs to its first key, not the document.
  const firstKey = YAML.isMap(contents) ? contents.items[0]?.key : undefined;
  fresh.commentBefore =
    original.commentBefore ??
    (YAML.isNode(contents) ? contents.commentBefore : undefined) ??
    (YAML.isNode(firstKey) ? firstKey.commentBefore : undefined) ??
    null;
  return `${docStart ? '---\n' : ''}${fresh.toString({ lineWidth: 0 })}`;
}

function injectObject(
  object: Record<string, unknown>,
  config: InjectorConfig,
  defaultNamespace: string,
  report: ManifestReport,
): boolean {
  if (object.kind === 'List' && Array.isArray(object.items)) {
    let changed = false;
    for (const item of object.items) {
      if (isObject(item) && injectObject(item, config, defaultNamespace, report)) changed = true;
    }
    return changed;
  }
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const name = [metadata.name, metadata.generateName].find((n) => typeof n === 'string');
  const ref = `${typeof object.kind === 'string' ? object.kind : '?'}/${name ?? '?'}`;
  const template = podTemplateOf(object);
  if (template === undefined) {
    report.objects.push({ ref, result: 'passed-through' });
    return false;
  }
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : defaultNamespace;
  const pod: Pod = { metadata: template.metadata ?? {}, spec: template.spec ?? { containers: [] } };
  try {
    const decision = decideInjection(pod, { name: namespace });
    if (!decision.inject) {
      report.objects.push({ ref, result: 'skipped', reason: decision.reason });
      return false;
    }
    const result = injectPod(pod, namespace, config);
    if ('refused' in result) throw result.error;
    if (JSON.stringify(result.pod) === JSON.stringify(pod)) {
      report.objects.push({ ref, result: 'unchanged', reason: 'already injected' });
      return false;
    }
    template.metadata = result.pod.metadata;
    template.spec = result.pod.spec;
    report.objects.push({ ref, result: 'injected' });
    return true;
  } catch (err) {
    if (err instanceof BadAnnotationError) {
      throw new BadAnnotationError(
        String(err.details.annotation),
        String(err.details.value),
        `${String(err.details.reason)} (in ${ref})`,
      );
    }
    throw err;
  }
}
