import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BadFlagError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

/**
 * util.parseArgs with detour's error shape: an unknown or malformed flag becomes a
 * BadFlagError naming the flag, and `--help`/`-h` is always accepted.
 */
export function parseFlags(
  argv: string[],
  options: Options,
  allowPositionals = false,
): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    const flat = values as Record<string, string | boolean | undefined>;
    return { values: flat, positionals, help: flat.help === true };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const flag = /'(-[^']+)'/.exec(message)?.[1] ?? argv.join(' ');
    throw new BadFlagError(flag, undefined, message);
  }
}

/** A flag that must be a TCP port (0 allowed where `allowZero`, meaning "pick one"). */
export function portFlag(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  const text = String(value);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535 || (port === 0 && !allowZero)) {
    throw new BadFlagError(flag, text, 'expected a TCP port, 1-65535');
  }
  return port;
}

/** A whole-number flag (milliseconds or a count) of at least `min`. */
export function wholeNumberFlag(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  const text = String(value);
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw new BadFlagError(flag, text, `expected a whole number of at least ${min}`);
  }
  return Number(text);
}

/** A flag that takes one of a few words (`--mode sidecar|gateway`). */
export function choiceFlag<T extends string>(
  flag: string,
  value: string | boolean | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  const text = String(value);
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new BadFlagError(flag, text, `expected ${choices.join(' or ')}`);
}
