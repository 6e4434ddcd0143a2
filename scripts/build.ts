/**
 * `npm run build`: the image's entry points as bundles (issue 13), one per role.
 *
 *   dist/detour.js        every command (`ENTRYPOINT ["detour"]`)
 *   dist/detour-proxy.js  `detour proxy` alone: what the webhook injects into every pod
 *   dist/chunks/*.js      code loaded only when used (each command, the kube source, ...)
 *
 * Bundling lets esbuild drop what the data plane never runs: undici's index requires
 * every dispatcher, the mock agents, the cache stores and fetch (24 MB of RSS), while
 * the proxy forwards with `Pool` alone; `undici` therefore resolves to an ES module that
 * re-exports the few classes detour and client-node import, and each chunk keeps only
 * those it uses. Node built-ins stay external; everything else is inlined, so the
 * runtime image needs no node_modules.
 *
 * Usage: node --import tsx scripts/build.ts [OUTDIR]   (default dist/)
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUNDLES, SOURCE_FOLDERS } from './build/bundles.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * Where each undici export lives; a CommonJS file's module.exports is its default. Every
 * module also does what undici's index does for all dispatchers: give them request(),
 * stream(), pipeline(), upgrade() and connect() (lib/api, a few kB), which callers such as
 * the forwardAuth client use.
 */
const UNDICI_API = `import __Dispatcher from './lib/dispatcher/dispatcher.js';
import __api from './lib/api/index.js';
Object.assign(__Dispatcher.prototype, __api);`;
const UNDICI_FILES: Record<string, string> = {
  Pool: "export { default as Pool } from './lib/dispatcher/pool.js';",
  Agent: "export { default as Agent } from './lib/dispatcher/agent.js';",
  ProxyAgent: "export { default as ProxyAgent } from './lib/dispatcher/proxy-agent.js';",
  fetch: "export { fetch } from './lib/web/fetch/index.js';",
};

/**
 * `import { Pool } from 'undici'` becomes a module that loads lib/dispatcher/pool.js
 * alone. Each importer gets a module of exactly the names it imports: esbuild cannot
 * drop an unused re-export of a CommonJS file (requiring it may have effects), so one
 * shared shim would load fetch wherever Pool is used.
 */
const undiciLean: Plugin = {
  name: 'undici-lean',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, async ({ importer }) => {
      const names = undiciImports(await readFile(importer, 'utf8'));
      const unknown = names.filter((n) => !(n in UNDICI_FILES));
      if (unknown.length > 0) {
        return { errors: [{ text: `undici-lean: add ${unknown.join(', ')} (from ${importer})` }] };
      }
      return { path: names.join(','), namespace: 'undici-lean' };
    });
    b.onLoad({ filter: /.*/, namespace: 'undici-lean' }, ({ path }) => ({
      contents: [
        UNDICI_API,
        ...path
          .split(',')
          .filter((n) => n !== '')
          .map((n) => UNDICI_FILES[n]),
      ].join('\n'),
      resolveDir: `${ROOT}node_modules/undici`,
      loader: 'js',
    }));
  },
};

/**
 * Node built-ins are read with `process.getBuiltinModule()`, never `import`ed. Importing
 * a built-in into an ES module builds its namespace from every export, which can run the
 * lazy getters behind them: `http.WebSocket` loads Node's own copy of undici (fetch,
 * WebSocket), and a bare `node:http` server measured 59 MB of RSS with
 * `import ... from 'node:http'` against 47 MB with require. As a CommonJS module esbuild
 * reads each named import when it is used, so no getter runs early.
 * https://nodejs.org/api/process.html#processgetbuiltinmoduleid
 */
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, ({ path }) => ({ path, namespace: 'lazy-builtin' }));
    b.onResolve({ filter: /^[a-z_]+(\/[a-z_]+)?$/ }, ({ path }) =>
      isBuiltin(path) ? { path: `node:${path}`, namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, ({ path }) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(path)});`,
      loader: 'js',
    }));
  },
};

/** The value names of `import { a, b as c, type D } from 'undici'` statements. */
export function undiciImports(source: string): string[] {
  const names = new Set<string>();
  for (const [, list = ''] of source.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"]undici['"]/g)) {
    for (const part of list.split(',')) {
      const [name = ''] = part.trim().split(/\s+as\s+/);
      if (name !== '' && !name.startsWith('type ')) names.add(name.trim());
    }
  }
  return [...names].sort();
}

export async function buildBundles(outdir = `${ROOT}dist`): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(BUNDLES.map((b) => [b.name, b.source])),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    chunkNames: 'chunks/[name]-[hash]',
    // CommonJS dependencies (undici, pino, express) call require() on built-ins; an ES
    // module has none, so give the bundle one.
    banner: {
      js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);",
    },
    plugins: [undiciLean, lazyBuiltins],
    // Line numbers in stack traces point into the bundle; the names stay readable.
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  if (result.errors.length > 0) throw new Error('esbuild failed');
  const strays = Object.keys(result.metafile.inputs).filter(
    (input) =>
      !input.includes('node_modules/') &&
      !input.startsWith('undici-lean:') &&
      !input.startsWith('lazy-builtin:') &&
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
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildBundles(process.argv[2]);
}
