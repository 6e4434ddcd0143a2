import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { choiceFlag, parseFlags } from '../shared/cli-flags.js';
import { PROXY_MODES, type ProxyMode } from './traffic.js';
import { BadFlagError, DetourError, errorMessage } from '../shared/errors.js';
import { loadPlaneConfig, planeFromMode } from '../shared/plane-config.js';
import { PORTS } from '../shared/labels.js';
import { explain, formatExplanation, type Explanation } from './explain.js';
import { formatRouteTable, type RoutesDocument } from './route-table-format.js';
import { fileSourcePath, loadTable } from './sources/file-source.js';

const USAGE = `usage: detour routes [--admin URL | --source file:PATH [--mode sidecar|gateway]]
                     [--explain URL] [--json]

Prints a proxy's route table (from its admin server, GET /routes), or explains which
route, endpoints and policies a URL would meet (GET /routes/explain?url=URL).

  --admin URL      the proxy's admin server (default http://127.0.0.1:${PORTS.admin})
  --source file:P  compile the cluster YAML file P here instead (no proxy needed);
                   the routing knobs (HOSTS_ANNOTATION, ...) come from the environment
  --mode M         with --source: sidecar (private plane, default) or gateway (public)
  --explain URL    explain one URL, e.g. http://my-application.my-namespace/nodejs
  --json           print the raw JSON
`;

/** How long to wait for the admin server: it answers from memory, so this is generous. */
const ADMIN_TIMEOUT_MS = 10_000;

export async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    admin: { type: 'string' },
    source: { type: 'string' },
    mode: { type: 'string' },
    explain: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const v = flags.values;
  const target = typeof v.explain === 'string' ? v.explain : undefined;
  const json = v.json === true;

  if (typeof v.source === 'string') {
    if (v.admin !== undefined)
      throw new BadFlagError('--admin', String(v.admin), 'use either --admin or --source');
    const output = await offline(v.source, modeFlag(v.mode), target);
    print(output, json);
    return 0;
  }
  if (v.mode !== undefined) {
    throw new BadFlagError(
      '--mode',
      String(v.mode),
      'only with --source (a running proxy knows its mode)',
    );
  }
  const admin = adminUrl(typeof v.admin === 'string' ? v.admin : `http://127.0.0.1:${PORTS.admin}`);
  const output =
    target === undefined
      ? await fetchJson<RoutesDocument>(new URL('routes', admin))
      : await fetchJson<Explanation>(explainUrl(admin, target));
  print(
    target === undefined
      ? { kind: 'table', doc: output as RoutesDocument }
      : { kind: 'explain', doc: output as Explanation },
    json,
  );
  return 0;
}

type Output = { kind: 'table'; doc: RoutesDocument } | { kind: 'explain'; doc: Explanation };

function print(output: Output, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(output.doc, null, 2) + '\n');
  } else if (output.kind === 'table') {
    process.stdout.write(formatRouteTable(output.doc));
  } else {
    process.stdout.write(formatExplanation(output.doc));
  }
}

async function offline(
  source: string,
  mode: 'sidecar' | 'gateway',
  target: string | undefined,
): Promise<Output> {
  const path = fileSourcePath(source);
  if (path === undefined) throw new BadFlagError('--source', source, 'expected file:PATH');
  const config = loadPlaneConfig(planeFromMode(mode));
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DetourError('DETOUR_E_BAD_SOURCE', `${file}: cannot read: ${errorMessage(err)}`, {
      source: file,
    });
  }
  const table = loadTable(text, file, config);
  if (target === undefined)
    return { kind: 'table', doc: { source: `file:${file}`, ...table.toJSON() } };
  return {
    kind: 'explain',
    doc: explain(table, target, {
      mode,
      apiKeyHeader: config.apiKeyHeader,
      clientMaxBodySize: config.clientMaxBodySize,
    }),
  };
}

function modeFlag(value: string | boolean | undefined): ProxyMode {
  return choiceFlag('--mode', value, PROXY_MODES, 'sidecar');
}

function adminUrl(text: string): URL {
  try {
    const url = new URL(text.endsWith('/') ? text : `${text}/`);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // reported below
  }
  throw new BadFlagError('--admin', text, 'expected an http:// URL, e.g. http://127.0.0.1:15000');
}

function explainUrl(admin: URL, target: string): URL {
  const url = new URL('routes/explain', admin);
  url.searchParams.set('url', target);
  return url;
}

async function fetchJson<T>(url: URL): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS) });
  } catch (err) {
    const cause =
      err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new DetourError(
      'DETOUR_E_UPSTREAM',
      `cannot reach the proxy's admin server at ${url.origin}${cause || `: ${errorMessage(err)}`} (is \`detour proxy\` running? pass --admin URL)`,
      { url: url.href },
    );
  }
  const body = await response.text();
  if (!response.ok) {
    throw new DetourError(
      'DETOUR_E_UPSTREAM',
      `${url.href} answered ${response.status}: ${body.trim()}`,
      {
        url: url.href,
        status: response.status,
      },
    );
  }
  try {
    // The admin server is detour's own (sidecar/admin-server.ts): its shape is ours.
    return JSON.parse(body) as T;
  } catch {
    throw new DetourError('DETOUR_E_UPSTREAM', `${url.href} did not answer JSON`, {
      url: url.href,
    });
  }
}
