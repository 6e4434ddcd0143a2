import { createLogger } from '../../shared/logger.js';
import { applyPayload, IptablesError, readNatTable } from './iptables-apply.js';
import { backendFor, detectBackend, type IptablesBackend } from './iptables-backend.js';
import { buildIptablesPayload } from './iptables-rules.js';
import { INIT_USAGE, parseInitFlags, type InitOptions } from './init-flags.js';

/**
 * `detour init`: the init container. Builds the payload from the flags the webhook
 * rendered and applies it; any failure exits non-zero, so the pod does not start with
 * half its traffic captured (the kubelet retries the init container).
 */
export async function run(argv: string[]): Promise<number> {
  const options = parseInitFlags(argv);
  if (options.help) {
    process.stdout.write(INIT_USAGE);
    return 0;
  }
  if (options.dryRun) {
    process.stdout.write(buildIptablesPayload(options.settings, 4));
    if (options.ipv6 !== 'false') process.stdout.write(buildIptablesPayload(options.settings, 6));
    return 0;
  }
  await apply(options);
  return 0;
}

async function apply(options: InitOptions): Promise<void> {
  const log = createLogger({ name: 'detour-init' });
  const backend: IptablesBackend =
    options.iptablesMode === 'auto' ? await detectBackend() : backendFor(options.iptablesMode);

  const v4 = buildIptablesPayload(options.settings, 4);
  await applyPayload(backend, 4, v4);
  log.info({ family: 4, backend: backend.mode, rules: ruleLines(v4) }, 'capture rules applied');

  if (options.ipv6 === 'false') return;
  // A pod without IPv6 (disabled in the kernel, or no ip6tables) needs no IPv6 rules.
  if ((await readNatTable(backend, 6)) === null) {
    if (options.ipv6 === 'true') {
      throw new IptablesError(`--ipv6 true, but ${backend.saveCommand(6)} does not work here`, {
        command: backend.saveCommand(6),
      });
    }
    log.info({ family: 6, backend: backend.mode }, 'IPv6 unavailable, no IPv6 rules');
    return;
  }
  const v6 = buildIptablesPayload(options.settings, 6);
  await applyPayload(backend, 6, v6);
  log.info({ family: 6, backend: backend.mode, rules: ruleLines(v6) }, 'capture rules applied');
}

function ruleLines(payload: string): number {
  return payload.split('\n').filter((line) => line.startsWith('-A ')).length;
}
