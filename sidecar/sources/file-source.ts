import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { compileWithOutcomes } from '../../shared/compile.js';
import type { ApiPolicyOutcome } from '../../shared/compile/api-policies.js';
import { DetourError, errorMessage, isDetourError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import type { PlaneConfig } from '../../shared/plane-config.js';
import { RouteTable } from '../route-table.js';
import { parseClusterYaml } from './cluster-yaml.js';
import type { RouteSource } from './route-source.js';

export interface FileSourceOptions {
  path: string;
  config: PlaneConfig;
  logger?: Logger;
  /** Quiet time after the last change before reloading (editors write in bursts). */
  debounceMs?: number;
}

/** At most this many skipped entries and conflicts are logged per load (all are in /routes). */
const MAX_PROBLEM_LINES = 20;
const REWATCH_DELAY_MS = 1000;

/**
 * `--source file:PATH`: a YAML file of Pods (with status), Secrets, HostGrants,
 * Namespaces, ApiPolicies and RouteTables,
 * compiled with the same compiler the controller runs, plus any RouteTables of the
 * proxy's plane written in the file.
 *
 * The file's directory is watched, not the file: editors save by writing a new file and
 * renaming it over the old one, and a ConfigMap volume swaps a `..data` symlink, and both
 * replace the inode a file watch is bound to
 * (https://nodejs.org/api/fs.html#caveats, "Inodes"). Any change in the directory
 * schedules a reload after `debounceMs` of quiet; an unchanged file (same digest) is not
 * delivered again. A file that no longer parses keeps the last good table and logs why.
 */
export class FileSource implements RouteSource {
  readonly description: string;
  readonly #path: string;
  readonly #config: PlaneConfig;
  readonly #log: Logger;
  readonly #debounceMs: number;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onTable: ((table: RouteTable) => void) | undefined;
  #lastDigest = '';
  #stopped = false;
  #loading: Promise<void> = Promise.resolve();

  constructor(options: FileSourceOptions) {
    this.#path = resolve(options.path);
    this.description = `file:${this.#path}`;
    this.#config = options.config;
    this.#log = (options.logger ?? createLogger()).child({ source: this.description });
    this.#debounceMs = options.debounceMs ?? 100;
  }

  async start(onTable: (table: RouteTable) => void): Promise<void> {
    this.#onTable = onTable;
    this.#stopped = false;
    const text = await this.#read();
    const loaded = loadCluster(text, this.#path, this.#config);
    this.#lastDigest = digest(text);
    this.#deliver(loaded);
    this.#watch();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    // Wait for a reload in progress, so no table is delivered after stop() resolves.
    return this.#loading;
  }

  async #read(): Promise<string> {
    try {
      return await readFile(this.#path, 'utf8');
    } catch (err) {
      throw new DetourError(
        'DETOUR_E_BAD_SOURCE',
        `${this.#path}: cannot read: ${errorMessage(err)}`,
        { source: this.#path, problem: errorMessage(err) },
        { cause: err },
      );
    }
  }

  #watch(): void {
    if (this.#stopped) return;
    try {
      this.#watcher = watch(dirname(this.#path), { persistent: false }, () => {
        this.#schedule();
      });
      this.#watcher.on('error', (err) => {
        this.#log.warn({ err: errorMessage(err) }, 'file watch failed; watching again');
        this.#watcher?.close();
        setTimeout(() => {
          this.#watch();
          this.#schedule();
        }, REWATCH_DELAY_MS).unref();
      });
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'cannot watch the file; changes are not applied');
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#loading = this.#loading.then(() => this.#reload());
    }, this.#debounceMs);
  }

  async #reload(): Promise<void> {
    if (this.#stopped) return;
    let text: string;
    try {
      text = await this.#read();
    } catch (err) {
      this.#keepLast(err);
      return;
    }
    const textDigest = digest(text);
    if (textDigest === this.#lastDigest) return;
    let loaded: LoadedCluster;
    try {
      loaded = loadCluster(text, this.#path, this.#config);
    } catch (err) {
      this.#keepLast(err);
      return;
    }
    // stop() may have been called while the file was read.
    if (this.#isStopped()) return;
    this.#lastDigest = textDigest;
    this.#deliver(loaded);
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  #keepLast(err: unknown): void {
    const details = isDetourError(err) ? err.details : {};
    this.#log.error(
      { file: this.#path, line: details.line, err: errorMessage(err) },
      'route source file is invalid; keeping the last good table',
    );
  }

  #deliver({ table, apiPolicies }: LoadedCluster): void {
    this.#log.info(
      {
        file: this.#path,
        version: table.version,
        routes: table.routeCount,
        hosts: table.hosts().length,
        skipped: table.skipped.length,
        conflicts: table.conflicts.length,
      },
      'route table loaded',
    );
    for (const entry of table.skipped.slice(0, MAX_PROBLEM_LINES)) {
      this.#log.warn({ ...entry }, 'routing entry skipped');
    }
    for (const conflict of table.conflicts.slice(0, MAX_PROBLEM_LINES)) {
      this.#log.warn({ ...conflict }, 'route claimed by two namespaces; the oldest claim wins');
    }
    // What the controller would write to the policies' status, in the log instead.
    const reported = apiPolicies.filter((p) => p.problem !== undefined || p.lost.length > 0);
    for (const p of reported.slice(0, MAX_PROBLEM_LINES)) {
      const apiPolicy = `${p.namespace}/${p.name}`;
      if (p.problem !== undefined) {
        this.#log.warn({ apiPolicy, problem: p.problem }, 'ApiPolicy invalid; skipped');
      } else {
        this.#log.warn({ apiPolicy, lost: p.lost }, 'ApiPolicy overridden on some routes');
      }
    }
    this.#onTable?.(table);
  }
}

export interface LoadedCluster {
  table: RouteTable;
  apiPolicies: ApiPolicyOutcome[];
}

/** Parses and compiles the file's text; throws DETOUR_E_BAD_SOURCE naming the file and line. */
export function loadCluster(text: string, path: string, config: PlaneConfig): LoadedCluster {
  const objects = parseClusterYaml(text, path);
  const compiled = compileWithOutcomes(objects, config);
  const literal = objects.routeTables.filter((t) => t.spec.plane === config.plane);
  return {
    table: RouteTable.fromResources([...compiled.tables, ...literal]),
    apiPolicies: compiled.apiPolicies,
  };
}

export function loadTable(text: string, path: string, config: PlaneConfig): RouteTable {
  return loadCluster(text, path, config).table;
}

/** `file:PATH` -> PATH; undefined for any other source flag. */
export function fileSourcePath(flag: string): string | undefined {
  return flag.startsWith('file:') && flag.length > 'file:'.length
    ? flag.slice('file:'.length)
    : undefined;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
