import { REPO_ROOT, detourArgv } from '../../test/support/cli.js';
import {
  SEED_REPLICAS,
  echoServerArgv,
  seedClusterYaml,
  type InjectedPod,
} from '../../test/support/seed-example.js';
import {
  API_MANAGER_SCRIPT,
  NO_PROXY_ENV,
  apiManagerCommand,
  appCallArgv,
  appCallCommand,
  exec,
  hasCommand,
  parseAppCall,
  start,
  stop,
  waitSidecarReady,
  waitUntil,
  type ApiManager,
  type DemoStage,
  type HttpReply,
  type Started,
} from './stage.js';

/**
 * proxy-env mode on loopback, for machines without root or iptables: the replicas listen
 * on their pod IPs from cluster.yaml (127.0.0.11/.12), the sidecar on loopback ports far
 * from the well-known 15000/15001 (so a real sidecar on this machine is not disturbed),
 * and the app's calls carry HTTP_PROXY as the webhook sets it for `capture: proxy-env`.
 */
const PROXY_PORT = 25001;
const ADMIN_PORT = 25000;
const DNS_PORT = 25053;
const API_MANAGER_PORT = 25080;
const ADMIN_URL = `http://127.0.0.1:${ADMIN_PORT}`;
const REPLICA_IPS = ['127.0.0.11', '127.0.0.12'] as const;

export class LoopbackStage implements DemoStage {
  readonly routesCommand = `detour routes --admin ${ADMIN_URL}`;
  readonly #useCurl = hasCommand('curl');
  readonly #appEnv: NodeJS.ProcessEnv = {
    ...NO_PROXY_ENV,
    http_proxy: `http://127.0.0.1:${PROXY_PORT}`,
    HTTP_PROXY: `http://127.0.0.1:${PROXY_PORT}`,
    NODE_USE_ENV_PROXY: '1',
  };
  readonly #replicas: Started[] = [];
  #sidecar: Started | undefined;
  #apiManager: Started | undefined;

  async startReplicas(): Promise<string[]> {
    const lines: string[] = [];
    for (const [i, ip] of REPLICA_IPS.entries()) {
      const pod = SEED_REPLICAS[i] ?? 'replica';
      const replica = start(echoServerArgv(pod, 3000, ip));
      this.#replicas.push(replica);
      await waitUntil(`${pod} to listen on ${ip}:3000`, () => {
        if (replica.child.exitCode !== null) throw new Error(`${pod}: ${replica.stderr()}`);
        return replica.stdout().includes('listening');
      });
      lines.push(`${pod} listening on ${ip}:3000`);
    }
    return lines;
  }

  clusterYaml(): string {
    return seedClusterYaml();
  }

  async startSidecar(pod: InjectedPod, clusterFile: string): Promise<string[]> {
    const args = [
      ...pod.proxyArgs,
      '--source',
      `file:${clusterFile}`,
      '--listen-host',
      '127.0.0.1',
      '--admin-host',
      '127.0.0.1',
      '--listen',
      String(PROXY_PORT),
      '--admin-port',
      String(ADMIN_PORT),
      '--dns-port',
      String(DNS_PORT),
    ];
    const sidecar = start([process.execPath, ...detourArgv(args)], NO_PROXY_ENV);
    this.#sidecar = sidecar;
    await waitSidecarReady(sidecar, () =>
      exec(appCallArgv(`${ADMIN_URL}/ready`, [], this.#useCurl), NO_PROXY_ENV),
    );
    return [
      `$ detour ${args.join(' ')}`,
      `   ready: GET ${ADMIN_URL}/ready -> 200`,
      `   the app gets HTTP_PROXY=http://127.0.0.1:${PROXY_PORT} (in a cluster: 127.0.0.1:15001)`,
    ];
  }

  lookup(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  async call(url: string, headers: readonly string[] = []): Promise<HttpReply> {
    return parseAppCall(url, await exec(appCallArgv(url, headers, this.#useCurl), this.#appEnv));
  }

  callCommand(url: string, headers: readonly string[] = []): string {
    return `http_proxy=${this.#appEnv.http_proxy ?? ''} ${appCallCommand(url, headers, this.#useCurl)}`;
  }

  sidecarLog(): string[] {
    return this.#sidecar?.stdout().split('\n') ?? [];
  }

  async startApiManager(consumers: Readonly<Record<string, string>>): Promise<ApiManager> {
    const { argv, env } = apiManagerCommand(
      `${REPO_ROOT}${API_MANAGER_SCRIPT}`,
      '127.0.0.1',
      API_MANAGER_PORT,
      consumers,
    );
    const manager = start(argv, { ...NO_PROXY_ENV, ...env });
    this.#apiManager = manager;
    await waitUntil('api-manager to listen', () => {
      if (manager.child.exitCode !== null) throw new Error(`api-manager: ${manager.stderr()}`);
      return manager.stdout().includes('listening');
    });
    return {
      checkUrl: `http://127.0.0.1:${API_MANAGER_PORT}/check`,
      lines: [manager.stdout().split('\n')[0] ?? ''],
      log: () =>
        manager
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{')),
    };
  }

  async routes(args: readonly string[]): Promise<string> {
    const argv = [process.execPath, ...detourArgv(['routes', '--admin', ADMIN_URL, ...args])];
    const result = await exec(argv, NO_PROXY_ENV);
    if (result.code !== 0) throw new Error(`detour routes failed: ${result.stderr}`);
    return result.stdout;
  }

  async stopSidecar(): Promise<number | null> {
    const sidecar = this.#sidecar;
    return sidecar === undefined ? null : stop(sidecar.child);
  }

  async cleanup(): Promise<string[]> {
    const lines: string[] = [];
    if (this.#sidecar !== undefined && this.#sidecar.child.exitCode === null) {
      await stop(this.#sidecar.child);
      lines.push('stopped the sidecar');
    }
    const running = this.#replicas.splice(0).filter((r) => r.child.exitCode === null);
    await Promise.all(running.map((r) => stop(r.child)));
    if (running.length > 0) lines.push(`stopped ${running.length} replica(s)`);
    if (this.#apiManager !== undefined && this.#apiManager.child.exitCode === null) {
      await stop(this.#apiManager.child);
      lines.push('stopped api-manager');
    }
    return lines;
  }
}
