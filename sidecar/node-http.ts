import { createRequire } from 'node:module';
import type * as NodeHttp from 'node:http';

/**
 * `node:http`, loaded with require rather than `import`: an ESM import of a builtin
 * builds its namespace from every export, which runs `http.WebSocket`'s lazy getter and
 * so loads Node's bundled copy of undici (~760 kB of source, ~2 MB of RSS) that the
 * proxy never uses (it forwards with the undici package).
 */
export const http = createRequire(import.meta.url)('node:http') as typeof NodeHttp;
