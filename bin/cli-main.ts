import { isDetourError, errorMessage } from '../shared/errors.js';

export type CommandModule = { run: (argv: string[]) => Promise<number | undefined> };

export type CommandTable = Record<string, { summary: string; load: () => Promise<CommandModule> }>;

/**
 * `<program> <command> [flags]`: the dispatcher both entry points share (bin/detour.ts
 * has every command, bin/detour-proxy.ts the proxy alone). Sets process.exitCode.
 */
export function runCli(
  program: string,
  commands: CommandTable,
  argv: string[],
  version?: () => string,
): void {
  main(program, commands, argv, version).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const prefix = isDetourError(err) ? `${program}: ${err.code}: ` : `${program}: `;
      process.stderr.write(`${prefix}${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}

function usage(program: string, commands: CommandTable, version: boolean): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  const versionLine = version ? `       ${program} --version\n` : '';
  return `usage: ${program} <command> [flags]\n${versionLine}\ncommands:\n${lines.join('\n')}\n\nRun '${program} <command> --help' for the flags of one command.\n`;
}

async function main(
  program: string,
  commands: CommandTable,
  argv: string[],
  version: (() => string) | undefined,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage(program, commands, version !== undefined));
    return name === undefined ? 2 : 0;
  }
  if (version !== undefined && (name === '--version' || name === 'version')) {
    process.stdout.write(`${program} ${version()}\n`);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(
      `${program}: unknown command ${JSON.stringify(name)}\n\n${usage(program, commands, version !== undefined)}`,
    );
    return 2;
  }
  const module = await command.load();
  return (await module.run(rest)) ?? 0;
}
