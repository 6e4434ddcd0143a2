import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** `json` (default, one pino object per line) or `text` (one human line). */
  format?: string | undefined;
  level?: string | undefined;
  /** Where lines go; stdout by default, as `kubectl logs` reads it. */
  destination?: NodeJS.WritableStream;
  name?: string;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * One logger for every command. JSON by default because log pipelines parse it;
 * `LOG_FORMAT=text` gives `time level msg key=value ...` for people at a terminal.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? process.env.LOG_FORMAT ?? 'json';
  const rawLevel = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const level: LevelWithSilent = LEVELS.has(rawLevel) ? (rawLevel as LevelWithSilent) : 'info';
  const destination = options.destination ?? process.stdout;
  const base = options.name === undefined ? {} : { name: options.name };
  if (format === 'text') {
    return pino(
      { level, base: null, timestamp: false },
      { write: (line: string) => destination.write(toText(line)) },
    );
  }
  return pino(
    { level, base, timestamp: pino.stdTimeFunctions.isoTime },
    destination as pino.DestinationStream,
  );
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

function toText(line: string): string {
  const record = JSON.parse(line) as Record<string, unknown>;
  const { level, msg, ...rest } = record;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${textValue(v)}`)
    .join(' ');
  const levelName = typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : '';
  return `${new Date().toISOString()} ${levelName} ${typeof msg === 'string' ? msg : ''}${fields ? ' ' + fields : ''}\n`;
}

/**
 * A value as logfmt writes it: bare when it has no space, quote or control character,
 * quoted otherwise, so a space or a newline in a request path cannot split a line or fake
 * a field (`=` alone cannot: a reader splits a pair at its first `=`).
 */
function textValue(value: unknown): string {
  // eslint-disable-next-line no-control-regex -- control characters are what must be quoted
  if (typeof value === 'string' && /^[^\s"\\\x00-\x1f\x7f]+$/.test(value)) return value;
  if (value === undefined) return 'undefined';
  return JSON.stringify(value);
}
