import { parseFlags } from '../shared/cli-flags.js';
import { BadFlagError } from '../shared/errors.js';
import { ClusterReader } from './cluster-reader.js';
import { loadKubeTarget } from './kube-target.js';

/** The flags every workstation command shares, as kubectl spells them. */
const OPTIONS = {
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
} as const;

type Options = Parameters<typeof parseFlags>[1];

export interface WorkstationRun {
  output: 'text' | 'json';
  reader: ClusterReader;
  values: Record<string, string | boolean | undefined>;
}

function outputFlag(value: string | boolean | undefined): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new BadFlagError('--output', String(value), 'expected text or json');
}

/**
 * `--output text|json`, `--kubeconfig`, `--context` and the command's own flags; prints
 * `usage` and answers undefined for `--help`.
 */
export function workstationFlags(
  argv: string[],
  usage: string,
  extra: Options = {},
): WorkstationRun | undefined {
  const flags = parseFlags(argv, { ...OPTIONS, ...extra });
  if (flags.help) {
    process.stdout.write(usage);
    return undefined;
  }
  const v = flags.values;
  const text = (value: string | boolean | undefined): string | undefined =>
    typeof value === 'string' ? value : undefined;
  return {
    output: outputFlag(v.output),
    reader: new ClusterReader(loadKubeTarget(text(v.kubeconfig), text(v.context))),
    values: v,
  };
}
