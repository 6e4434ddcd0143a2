import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Linux has two iptables back ends with the same command line: the legacy x_tables one
 * and the nf_tables one. Rules written through one are invisible to the other, and the
 * node's kube-proxy/CNI picked one already; writing ours through the other works but
 * confuses every operator who later runs `iptables-save`. So, as Istio and the
 * Kubernetes iptables wrappers do, look at which back end already holds rules and use
 * that one; when neither does (or neither binary exists), use whatever `iptables` is.
 *
 * - https://github.com/istio/istio/blob/master/tools/istio-iptables/pkg/dependencies/implementation_linux.go
 *   (DetectIptablesVersion: compares `iptables-legacy-save` and `iptables-nft-save`)
 * - https://github.com/kubernetes-sigs/iptables-wrappers/blob/master/iptables-wrapper-installer.sh
 * - https://github.com/linkerd/linkerd2-proxy-init (`--iptables-mode legacy|nft`)
 */
export type IptablesMode = 'legacy' | 'nft';
export const IPTABLES_MODES: readonly IptablesMode[] = ['legacy', 'nft'];

export interface IptablesBackend {
  /** `default` when the plain `iptables` binaries were chosen. */
  readonly mode: IptablesMode | 'default';
  restoreCommand(family: 4 | 6): string;
  saveCommand(family: 4 | 6): string;
}

export function backendFor(mode: IptablesMode | 'default'): IptablesBackend {
  const suffix = mode === 'default' ? '' : `-${mode}`;
  const base = (family: 4 | 6): string => (family === 4 ? 'iptables' : 'ip6tables');
  return {
    mode,
    restoreCommand: (family) => `${base(family)}${suffix}-restore`,
    saveCommand: (family) => `${base(family)}${suffix}-save`,
  };
}

/** Number of rules (`-A` lines) in `iptables-save` output. */
export function countRules(saveOutput: string): number {
  return saveOutput.split('\n').filter((line) => line.startsWith('-A ')).length;
}

/**
 * The decision, pure: `null` means the binary is missing or failed. The back end with
 * more rules wins (the wrapper scripts' heuristic); a tie, including 0 and 0 in a fresh
 * pod namespace, keeps the distribution's default.
 */
export function chooseMode(
  legacyRules: number | null,
  nftRules: number | null,
): IptablesMode | 'default' {
  if (legacyRules === null && nftRules === null) return 'default';
  if (legacyRules === null) return 'nft';
  if (nftRules === null) return 'legacy';
  if (legacyRules > nftRules) return 'legacy';
  if (nftRules > legacyRules) return 'nft';
  return 'default';
}

export async function detectBackend(): Promise<IptablesBackend> {
  const [legacy, nft] = await Promise.all([
    ruleCount('iptables-legacy-save'),
    ruleCount('iptables-nft-save'),
  ]);
  return backendFor(chooseMode(legacy, nft));
}

async function ruleCount(command: string): Promise<number | null> {
  try {
    const { stdout } = await execFileAsync(command, [], { timeout: 10_000 });
    return countRules(stdout);
  } catch {
    return null; // not installed, or no kernel support for this back end
  }
}
