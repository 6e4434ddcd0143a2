// Placeholder until the component lands; replaced by the real command.
export function run(argv: string[]): Promise<number> {
  process.stderr.write(`detour: not implemented yet (${argv.join(' ')})\n`);
  return Promise.resolve(1);
}
