/**
 * esbuild plugins that keep out of the bundles what detour never runs (issue 13): each
 * was measured with the proxy as injected (docs/benchmarks.md, "What the proxy loads").
 *
 * - `leanPackages`: `import { A, B } from 'undici'` (or 'prom-client') becomes a module
 *   that loads the files of A and B alone. Both packages' index files require every part
 *   they have: undici's every dispatcher, the mock agents, the cache stores and fetch
 *   (24 MB of RSS); prom-client's Pushgateway (https, zlib, tls) and cluster aggregator.
 *   Each importer gets a module of exactly the names it imports: esbuild cannot drop an
 *   unused re-export of a CommonJS file (requiring it may have effects), so one shared
 *   shim would load fetch wherever Pool is used.
 * - `stubs`: parts of dependencies that detour's use of them never reaches, replaced by a
 *   stand-in (see STUBS for each reason).
 * - `lazyBuiltins`: Node built-ins read with `process.getBuiltinModule()`.
 */
import type { Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';

interface LeanPackage {
  /** Prepended to every shim of this package. */
  prelude: string;
  /** The statement that exports each importable name. */
  files: Record<string, string>;
}

/** A CommonJS file's module.exports is its default. */
const LEAN: Record<string, LeanPackage> = {
  undici: {
    // Every dispatcher also gets what undici's index gives them all: request(), stream(),
    // pipeline(), upgrade() and connect() (lib/api, a few kB), which callers such as the
    // forwardAuth client use.
    prelude: `import __Dispatcher from './lib/dispatcher/dispatcher.js';
import __api from './lib/api/index.js';
Object.assign(__Dispatcher.prototype, __api);`,
    files: {
      Pool: "export { default as Pool } from './lib/dispatcher/pool.js';",
      Agent: "export { default as Agent } from './lib/dispatcher/agent.js';",
      ProxyAgent: "export { default as ProxyAgent } from './lib/dispatcher/proxy-agent.js';",
      fetch: "export { fetch } from './lib/web/fetch/index.js';",
    },
  },
  'prom-client': {
    prelude: '',
    files: {
      Registry: "export { default as Registry } from './lib/registry.js';",
      Counter: "export { default as Counter } from './lib/counter.js';",
      Gauge: "export { default as Gauge } from './lib/gauge.js';",
      Histogram: "export { default as Histogram } from './lib/histogram.js';",
      collectDefaultMetrics:
        "export { default as collectDefaultMetrics } from './lib/defaultMetrics.js';",
    },
  },
};

export function leanPackages(root: string): Plugin {
  const filter = new RegExp(`^(${Object.keys(LEAN).map(literal).join('|')})$`);
  return {
    name: 'lean-packages',
    setup(b) {
      b.onResolve({ filter }, async ({ path: pkg, importer }) => {
        const { files } = LEAN[pkg] as LeanPackage;
        const imported = valueImports(await readFile(importer, 'utf8'), pkg);
        const unknown = imported.filter((n) => !(n in files));
        if (unknown.length > 0) {
          return {
            errors: [
              { text: `lean-packages: add ${pkg} ${unknown.join(', ')} (from ${importer})` },
            ],
          };
        }
        return { path: `${pkg}:${imported.join(',')}`, namespace: 'lean-package' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lean-package' }, ({ path }) => {
        const [pkg = '', list = ''] = path.split(':');
        const { prelude, files } = LEAN[pkg] as LeanPackage;
        return {
          contents: [prelude, ...list.split(',').flatMap((n) => (n === '' ? [] : [files[n]]))].join(
            '\n',
          ),
          resolveDir: `${root}node_modules/${pkg}`,
          loader: 'js',
        };
      });
    },
  };
}

/** The value names of `import { a, b as c, type D } from 'PKG'` statements. */
function valueImports(source: string, pkg: string): string[] {
  const names = new Set<string>();
  const statement = new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*['"]${literal(pkg)}['"]`, 'g');
  for (const [, list = ''] of source.matchAll(statement)) {
    for (const part of list.split(',')) {
      const [name = ''] = part.trim().split(/\s+as\s+/);
      if (name !== '' && !name.startsWith('type ')) names.add(name.trim());
    }
  }
  return [...names].sort();
}

/** A package name as a regular expression matching it literally. */
function literal(pkg: string): string {
  return pkg.replace(/[-/]/g, '\\$&');
}

/** A dependency's module (`package` `path`, as its importer requires it) and its stand-in. */
interface Stub {
  package: string;
  request: RegExp;
  why: string;
  contents: string;
}

const STUBS: readonly Stub[] = [
  {
    // undici's HTTP/2 client requires node:http2 as it loads (9 MB of RSS); detour never
    // sets `allowH2` (its h2 upstreams use node:http2 directly, docs/adr/README.md 0009).
    package: 'undici',
    request: /\/client-h2(\.js)?$/,
    why: 'HTTP/2 through undici (allowH2)',
    contents: 'module.exports = () => { throw new Error(WHY); };',
  },
  {
    // prom-client reads the active span for exemplars, which need an OpenTelemetry SDK
    // that detour does not run: no span is ever active (59 kB of code otherwise).
    package: 'prom-client',
    request: /^@opentelemetry\/api$/,
    why: 'OpenTelemetry exemplars',
    contents:
      'module.exports = { trace: { getSpan: () => undefined }, context: { active: () => undefined } };',
  },
];

export const stubs: Plugin = {
  name: 'stubs',
  setup(b) {
    STUBS.forEach((stub, i) => {
      b.onResolve({ filter: stub.request }, ({ importer }) =>
        importer.includes(`node_modules/${stub.package}/`)
          ? { path: String(i), namespace: 'stub' }
          : undefined,
      );
    });
    b.onLoad({ filter: /.*/, namespace: 'stub' }, ({ path }) => {
      const stub = STUBS[Number(path)] as Stub;
      return {
        contents: `const WHY = ${JSON.stringify(`detour's bundles leave out ${stub.why}`)};\n${stub.contents}`,
        loader: 'js',
      };
    });
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
export const lazyBuiltins: Plugin = {
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

/** The namespaces these plugins put modules in (the build's stray-source check skips them). */
export const PLUGIN_NAMESPACES: readonly string[] = ['lean-package', 'stub', 'lazy-builtin'];
