import { spawn } from 'node:child_process';
import { DetourError } from '../../shared/errors.js';
import type { IptablesBackend } from './iptables-backend.js';
import { withoutExistingJump } from './iptables-rules.js';

/**
 * The thin I/O shell around iptables-rules.ts: it only executes. The payload goes to
 * `iptables-restore --noflush` on stdin, so it is applied in one atomic commit (all rules
 * or none), without touching chains that are not ours.
 */
const LOCK_WAIT_SECONDS = 10;

/** `detour init` could not read or apply the rules; the message names the refused rule. */
export class IptablesError extends DetourError {
  constructor(message: string, details: Record<string, unknown>) {
    super('DETOUR_E_IPTABLES', message, details);
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCommand(command: string, args: string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading it all
    child.stdin.end(input);
  });
}

/** The current nat table, or null when this family's iptables does not work here. */
export async function readNatTable(
  backend: IptablesBackend,
  family: 4 | 6,
): Promise<string | null> {
  try {
    const result = await runCommand(backend.saveCommand(family), ['-t', 'nat']);
    return result.code === 0 ? result.stdout : null;
  } catch {
    return null; // binary missing
  }
}

/**
 * Applies the payload; on failure throws an IptablesError that quotes the rule
 * iptables-restore refused (it reports `line N failed` when the kernel refuses a commit,
 * `Error occurred at line: N` when it cannot parse a rule).
 */
export async function applyPayload(
  backend: IptablesBackend,
  family: 4 | 6,
  payload: string,
): Promise<{ applied: string }> {
  const current = (await readNatTable(backend, family)) ?? '';
  const applied = withoutExistingJump(payload, current);
  const command = backend.restoreCommand(family);
  let result: CommandResult;
  try {
    // --wait: legacy iptables takes the node-wide xtables lock, which kube-proxy or a CNI
    // may hold for a moment; without it the restore fails at once (nft ignores it).
    result = await runCommand(command, ['--noflush', `--wait=${LOCK_WAIT_SECONDS}`], applied);
  } catch (err) {
    throw new IptablesError(`${command} could not be started: ${String(err)}`, { command });
  }
  if (result.code !== 0) throw restoreError(command, applied, result);
  return { applied };
}

export function restoreError(
  command: string,
  payload: string,
  result: CommandResult,
): IptablesError {
  const stderr = result.stderr.trim();
  const line = failingLine(stderr);
  const rule = line === undefined ? undefined : payload.split('\n')[line - 1];
  const where = rule === undefined ? '' : ` at line ${line}: ${rule}`;
  const firstLine = stderr.split('\n')[0] ?? '';
  return new IptablesError(
    `${command} --noflush failed (exit ${result.code})${where}${firstLine ? ` (${firstLine})` : ''}`,
    { command, exitCode: result.code, line, rule, stderr },
  );
}

export function failingLine(stderr: string): number | undefined {
  const match = /line:? (\d+)/.exec(stderr);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
