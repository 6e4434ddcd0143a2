/**
 * `npm run build`: the image's entry points as bundles (issue 13), one per role.
 *
 *   dist/detour.js        every command (`ENTRYPOINT ["detour"]`)
 *   dist/detour-proxy.js  `detour proxy` alone: what the webhook injects into every pod
 *   dist/chunks/*.js      code loaded only when used (each command, the kube source, ...)
 *
 * Bundling lets esbuild drop what the data plane never runs (scripts/build/lean-plugins.ts:
 * undici and prom-client reduced to the classes detour imports, parts never reached
 * stubbed, built-ins read lazily). Node built-ins stay external; everything else is
 * inlined, so the runtime image needs no node_modules.
 *
 * Usage: node --import tsx scripts/build.ts [OUTDIR]   (default dist/)
 */
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BUNDLES, SOURCE_FOLDERS } from './build/bundles.js';
import { lazyBuiltins, leanPackages, PLUGIN_NAMESPACES, stubs } from './build/lean-plugins.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export async function buildBundles(outdir = `${ROOT}dist`): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  // One esbuild run per bundle: sharing chunks between `detour` and `detour-proxy`
  // split the proxy's startup code over some 50 small files, and resolving that many
  // ES modules made V8 optimise the loader's path and URL functions as the proxy
  // started, which mapped 6 MB more of the node binary's code (idle RSS 74 -> 68 MB).
  // Chunks are content-hashed, so code both bundles share is written once.
  const metafile: Metafile = { inputs: {}, outputs: {} };
  for (const bundle of BUNDLES) {
    const result = await buildOne(bundle.name, bundle.source, outdir);
    Object.assign(metafile.inputs, result.inputs);
    Object.assign(metafile.outputs, result.outputs);
  }
  const strays = Object.keys(metafile.inputs).filter(
    (input) =>
      !input.includes('node_modules/') &&
      !PLUGIN_NAMESPACES.some((namespace) => input.startsWith(`${namespace}:`)) &&
      !SOURCE_FOLDERS.some((folder) => input.startsWith(`${folder}/`)),
  );
  if (strays.length > 0) {
    throw new Error(`bundled sources outside ${SOURCE_FOLDERS.join(', ')}: ${strays.join(', ')}`);
  }
  // dist/ alone is then a runnable ES-module tree (the image also ships package.json),
  // which also names detour's version (shared/version.ts looks for it above the code).
  const { version } = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as {
    version: string;
  };
  await writeFile(
    `${outdir}/package.json`,
    `${JSON.stringify({ name: 'detour', version, type: 'module' })}\n`,
  );
  return metafile;
}

/**
 * How every program the image runs is bundled; the benchmarks bundle their own programs
 * (bench/footprint.ts, bench/proxy/node-relay.ts) the same way, so that what they
 * measure against detour differs from it in code only.
 */
export const BUNDLE_OPTIONS = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  // CommonJS dependencies (undici, pino, express) call require() on built-ins; an ES
  // module has none, so give the bundle one.
  banner: {
    js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);",
  },
  plugins: [leanPackages(ROOT), stubs, lazyBuiltins],
  // As undici's own build for Node core does: its experimental Milo parser (two more
  // WebAssembly parsers, 170 kB of source) is left out, llhttp parses.
  define: { esbuildDetection: '1' },
  // Whitespace and syntax minified, names kept: V8 keeps each module's source text in
  // the heap for lazy compilation, and the proxy's 1.2 MB of it fell to 0.9 MB (about
  // -1.3 MB of idle RSS, docs/benchmarks.md). Stack traces still name every function;
  // their positions are columns of the bundle's long lines.
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
} satisfies BuildOptions;

async function buildOne(name: string, source: string, outdir: string): Promise<Metafile> {
  const result = await build({
    ...BUNDLE_OPTIONS,
    absWorkingDir: ROOT,
    entryPoints: { [name]: source },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
  });
  if (result.errors.length > 0) throw new Error('esbuild failed');
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundles(process.argv[2]);
}
