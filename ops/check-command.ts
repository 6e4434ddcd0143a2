import { parseFlags } from '../shared/cli-flags.js';
import { BadFlagError } from '../shared/errors.js';
import { failed, formatJson, formatText } from './check-report.js';
import { runChecks } from './check-runner.js';
import { ClusterReader } from './cluster-reader.js';
import { endNow } from './end-now.js';
import { loadKubeTarget } from './kube-target.js';

const USAGE = `usage: detour check [--pre] [--output text|json] [--kubeconfig FILE] [--context NAME]

Checks a cluster for detour, as linkerd check does, and exits 1 on any failure.
  --pre      before installing: Kubernetes version, permission to install, namespaces
             whose Pod Security level forbids the init container's NET_ADMIN
  (default)  after installing: CRDs, the control plane, the webhook (its Service, its
             caBundle, a dry-run pod create), RouteTables, pods without a sidecar or
             with an old proxy, host conflicts and refused claims
Each failure names the object at fault and a hint.
`;

const OPTIONS = {
  pre: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
} as const;

export function outputFlag(value: string | boolean | undefined): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new BadFlagError('--output', String(value), 'expected text or json');
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, OPTIONS);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const v = flags.values;
  const output = outputFlag(v.output);
  const kc = loadKubeTarget(
    typeof v.kubeconfig === 'string' ? v.kubeconfig : undefined,
    typeof v.context === 'string' ? v.context : undefined,
  );
  const { lines, reached } = await runChecks(new ClusterReader(kc), v.pre === true);
  if (output === 'json') {
    process.stdout.write(formatJson(lines));
  } else if (!reached) {
    // One line: nothing else was checked.
    process.stdout.write(`× ${lines[0]?.detail ?? 'cannot reach the Kubernetes API server'}\n`);
  } else {
    process.stdout.write(formatText(lines));
  }
  if (!reached) endNow(1);
  return failed(lines) ? 1 : 0;
}
