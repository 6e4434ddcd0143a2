import { failed, formatJson, formatText } from './check-report.js';
import { runChecks } from './check-runner.js';
import { endNow } from './end-now.js';
import { workstationFlags } from './workstation-flags.js';

const USAGE = `usage: detour check [--pre] [--output text|json] [--kubeconfig FILE] [--context NAME]

Checks a cluster for detour, as linkerd check does, and exits 1 on any failure.
  --pre      before installing: Kubernetes version, permission to install, namespaces
             whose Pod Security level forbids the init container's NET_ADMIN
  (default)  after installing: CRDs, the control plane, the webhook (its Service, its
             caBundle, a dry-run pod create), RouteTables, pods without a sidecar or
             with an old proxy, host conflicts and refused claims
Each failure names the object at fault and a hint.
`;

export async function run(argv: string[]): Promise<number> {
  const flags = workstationFlags(argv, USAGE, { pre: { type: 'boolean' } });
  if (flags === undefined) return 0;
  const { lines, reached } = await runChecks(flags.reader, flags.values.pre === true);
  if (flags.output === 'json') {
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
