import fs from 'node:fs';
import { parseFlags } from '../shared/cli-flags.js';
import { BadFlagError, errorMessage } from '../shared/errors.js';
import { INJECTOR_KNOBS, loadInjectorConfig } from './injector-config.js';
import { injectManifests } from './inject-manifests.js';

const USAGE = `usage: detour inject -f FILE|- [--namespace NS] [--image REF] [--proxy-uid N] [--quiet]

Adds detour's init container and sidecar to the Pods and pod templates (Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, and List
items) of a multi-document YAML, with the admission webhook's own function, and prints
the YAML. Other kinds, and objects left as they are, are printed byte for byte; the
objects it injects keep their comments and YAML 1.1 scalars (0400, yes), as kubectl
reads them. Warnings (unknown detour.dev/ keys) always go to stderr, and so does a
summary of what was done (--quiet to suppress it). Any refusal (a malformed pod, a bad
annotation) is printed, all of them at once, and nothing goes to stdout: exit 1.

  kubectl get deploy web -o yaml | detour inject -f - | kubectl apply -f -

env: ${Object.values(INJECTOR_KNOBS).join(', ')}
`;

const OPTIONS = {
  filename: { type: 'string', short: 'f' },
  namespace: { type: 'string', short: 'n' },
  image: { type: 'string' },
  'proxy-uid': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

export async function run(argv: string[]): Promise<number | undefined> {
  const flags = parseFlags(argv, OPTIONS);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { filename, namespace, image } = flags.values;
  const proxyUid = flags.values['proxy-uid'];
  if (typeof filename !== 'string') {
    throw new BadFlagError('-f', undefined, 'give the file to inject, or - for stdin');
  }
  const config = loadInjectorConfig({
    ...process.env,
    ...(typeof image === 'string' ? { [INJECTOR_KNOBS.image]: image } : {}),
    ...(typeof proxyUid === 'string' ? { [INJECTOR_KNOBS.proxyUid]: proxyUid } : {}),
  });
  let text: string;
  try {
    text = filename === '-' ? await readStdin() : await fs.promises.readFile(filename, 'utf8');
  } catch (err) {
    throw new BadFlagError('-f', filename, `cannot read: ${errorMessage(err)}`);
  }
  const { output, report } = injectManifests(text, config, {
    defaultNamespace: typeof namespace === 'string' ? namespace : 'default',
    file: filename === '-' ? 'stdin' : filename,
  });
  for (const o of report.objects) {
    for (const w of o.warnings) process.stderr.write(`detour inject: ${o.ref}: warning: ${w}\n`);
  }
  if (report.refusals.length > 0) {
    // Every refusal at once, and no half-injected output to apply by mistake.
    for (const err of report.refusals)
      process.stderr.write(`detour: ${err.code}: ${err.message}\n`);
    return 1;
  }
  process.stdout.write(output);
  if (flags.values.quiet !== true) {
    for (const o of report.objects) {
      process.stderr.write(
        `detour inject: ${o.ref}: ${o.result}${o.reason === undefined ? '' : ` (${o.reason})`}\n`,
      );
    }
  }
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
