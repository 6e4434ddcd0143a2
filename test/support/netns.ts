import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { REPO_ROOT } from './cli.js';

/**
 * The netns harness (DESIGN.md, "Testing without a cluster"): each "pod" is a Linux
 * network namespace with a veth into a bridge that lives in a namespace of its own, so
 * the host's interfaces and routes are never touched. Addresses come from the benchmark
 * range 198.18.0.0/15 only (RFC 2544). A pod gets its own /etc/resolv.conf through
 * /etc/netns/NAME/, which `ip netns exec` bind-mounts over /etc/resolv.conf
 * (ip-netns(8)).
 *
 * Names are `detour-t-<pid>-<n>-<name>`: the PID lets a later run sweep what a crashed
 * run left behind without touching the namespaces of a run still going.
 */
export const NETNS_PREFIX = 'detour-t-';
export const BRIDGE_IP = '198.18.0.1';
const SUBNET_BITS = 24;

export interface NetnsPod {
  /** The short name given to addPod. */
  readonly name: string;
  /** The namespace, for `ip netns exec`. */
  readonly ns: string;
  readonly ip: string;
}

export interface ExecOptions {
  /** Run as this UID (and GID) with no supplementary groups; root when absent. */
  uid?: number;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A process started in a namespace, with its output collected as it arrives. */
export interface NetnsProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
}

/** Why the netns tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and iptables)';
  for (const [command, args] of [
    ['ip', ['netns', 'list']],
    ['iptables-save', ['--version']],
    ['setpriv', ['--version']],
  ] as const) {
    try {
      execFileSync(command, [...args], { stdio: 'ignore' });
    } catch {
      return `needs ${command} (apt-get install -y iproute2 iptables util-linux)`;
    }
  }
  return undefined;
}

let labCounter = 0;

export class NetnsLab {
  readonly id: string;
  readonly bridgeNs: string;
  private readonly namespaces: string[] = [];
  private readonly processes = new Map<number, NetnsProcess>();
  private podCount = 0;

  private constructor() {
    labCounter += 1;
    this.id = `${NETNS_PREFIX}${process.pid}-${labCounter}`;
    this.bridgeNs = `${this.id}-br`;
  }

  /** Sweeps namespaces of dead runs, then makes the bridge namespace (198.18.0.1/24). */
  static create(): NetnsLab {
    sweepStaleNamespaces();
    const lab = new NetnsLab();
    try {
      lab.addNamespace(lab.bridgeNs);
      ip('-n', lab.bridgeNs, 'link', 'set', 'lo', 'up');
      ip('-n', lab.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', lab.bridgeNs, 'addr', 'add', `${BRIDGE_IP}/${SUBNET_BITS}`, 'dev', 'br0');
      ip('-n', lab.bridgeNs, 'link', 'set', 'br0', 'up');
    } catch (err) {
      lab.cleanupSync();
      throw err;
    }
    return lab;
  }

  /** A "pod": a namespace with eth0 on the bridge, a default route and its resolv.conf. */
  addPod(name: string, options: { resolvConf?: string; ip?: string } = {}): NetnsPod {
    this.podCount += 1;
    const n = this.podCount;
    const ns = `${this.id}-${name}`;
    const ipAddress = options.ip ?? `198.18.0.${10 + n}`;
    if (!/^198\.18\.0\.(\d+)$/.test(ipAddress) || ipAddress === BRIDGE_IP) {
      throw new Error(`pod address ${ipAddress} must be in 198.18.0.0/24, not the bridge's`);
    }
    this.addNamespace(ns);
    if (options.resolvConf !== undefined) {
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/resolv.conf`, options.resolvConf);
    }
    const hostSide = `p${n}`;
    ip(
      '-n',
      this.bridgeNs,
      'link',
      'add',
      hostSide,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    );
    ip('-n', this.bridgeNs, 'link', 'set', hostSide, 'master', 'br0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', `${ipAddress}/${SUBNET_BITS}`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', BRIDGE_IP);
    return { name, ns, ip: ipAddress };
  }

  /** Starts `argv` in namespace `ns` (optionally as `uid`); stopped by PID in cleanup. */
  spawn(ns: string, argv: string[], options: ExecOptions = {}): NetnsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...asUser(options.uid), ...argv], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} in ${ns}`);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    const proc: NetnsProcess = { child, pid: child.pid, stdout: () => out, stderr: () => err };
    this.processes.set(child.pid, proc);
    child.on('exit', () => this.processes.delete(proc.pid));
    return proc;
  }

  /** Runs `argv` in namespace `ns` to completion, bounded by `timeoutMs`. */
  exec(ns: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const proc = this.spawn(ns, argv, options);
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    return new Promise((resolve, reject) => {
      proc.child.on('error', reject);
      proc.child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: proc.stdout(), stderr: proc.stderr() });
      });
    });
  }

  /** Stops every process still running (by PID), then deletes namespaces and /etc/netns dirs. */
  async cleanup(): Promise<void> {
    const running = [...this.processes.values()];
    for (const proc of running) signal(proc.pid, 'SIGTERM');
    const deadline = Date.now() + 5_000;
    while (running.some((p) => alive(p.pid)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const proc of running) signal(proc.pid, 'SIGKILL');
    this.cleanupSync();
  }

  private cleanupSync(): void {
    for (const ns of this.namespaces.splice(0).reverse()) deleteNamespace(ns);
  }

  private addNamespace(ns: string): void {
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
  }
}

function asUser(uid: number | undefined): string[] {
  if (uid === undefined) return [];
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function deleteNamespace(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/** Deletes `detour-t-<pid>-...` namespaces (and /etc/netns dirs) whose run has died. */
export function sweepStaleNamespaces(): string[] {
  const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '');
  let etc: string[] = [];
  try {
    etc = readdirSync('/etc/netns');
  } catch {
    // no /etc/netns yet
  }
  const swept: string[] = [];
  for (const ns of new Set([...listed, ...etc])) {
    const pid = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(ns)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    deleteNamespace(ns);
    swept.push(ns);
  }
  return swept;
}

/** The access-log lines (JSON, `msg: request`) a proxy process wrote on stdout so far. */
export function accessLines(proc: NetnsProcess): Record<string, unknown>[] {
  return proc
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.msg === 'request');
}
