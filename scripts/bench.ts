/**
 * `npm run bench [-- NAME ...]`: runs the named benchmarks (all by default) one after
 * the other, never in parallel, so they do not steal each other's CPU on a 2-core box.
 * Each benchmark is scripts/bench/NAME.ts exporting `run(): Promise<void>` and prints
 * its own table.
 */
const BENCHES = ['proxy', 'footprint', 'webhook', 'convergence', 'routes', 'dns'] as const;

type BenchModule = { run: () => Promise<void> };

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(BENCHES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown benchmark(s) ${unknown.join(', ')}; known: ${BENCHES.join(', ')}\n`,
    );
    process.exitCode = 2;
    return;
  }
  for (const name of wanted.length > 0 ? wanted : BENCHES) {
    process.stdout.write(`\n=== bench: ${name} ===\n`);
    const module = (await import(`./bench/${name}.ts`)) as BenchModule;
    await module.run();
  }
}

await main();
