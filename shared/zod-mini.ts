/**
 * The zod every shared schema uses: `zod/mini`, whose functions esbuild can drop when
 * unused. The proxy parses RouteTables (and the policies inside) on every update, and
 * classic zod's chainable classes cost 12 MB of RSS to load against 0.3 MB for mini
 * (issue 13, `docs/benchmarks.md`). Mini ships no error messages; the English locale is
 * set here once, so issues read "Too big: expected number to be <=65535".
 * https://zod.dev/packages/mini
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

// Importers take it as a namespace (`import * as z`), so esbuild keeps only what they use.
export * from 'zod/mini';
