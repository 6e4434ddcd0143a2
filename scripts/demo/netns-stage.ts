import { execFileSync } from 'node:child_process';
import { REPO_ROOT, detourArgv } from '../../test/support/cli.js';
import {
  BRIDGE_IP,
  NetnsLab,
  netnsUnavailable,
  type NetnsPod,
  type NetnsProcess,
} from '../../test/support/netns.js';
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
  hasCommand,
  parseAppCall,
  stop,
  waitSidecarReady,
  waitUntil,
  type ApiManager,
  type DemoStage,
  type ExecResult,
  type HttpReply,
} from './stage.js';

/**
 * Real capture: every "pod" a network namespace on a bridge (test/support/netns.ts),
 * addresses from 198.18.0.0/24 (RFC 2544). my-other-application's pod gets the init
 * container's iptables rules from the `detour inject` output, applied by the real
 * `detour init` as root; its sidecar runs as UID 1337 with the injected args; the app's
 * calls run as UID 1000 with no proxy settings at all.
 */
const APP_UID = 1000;
const PROXY_UID = 1337;
const REPLICA_IPS = ['198.18.0.11', '198.18.0.12'] as const;
const CLIENT_IP = '198.18.0.20';
/** The API-management example's service, a pod of its own (namespace apim in a cluster). */
const API_MANAGER_IP = '198.18.0.30';
/** cluster.yaml's loopback pod IPs -> this stage's. */
const POD_IPS = {
  '127.0.0.11': REPLICA_IPS[0],
  '127.0.0.12': REPLICA_IPS[1],
  '127.0.0.21': CLIENT_IP,
};
/** As a pod in my-other-namespace gets it; nothing listens on the bridge's port 53. */
const RESOLV_CONF = `nameserver ${BRIDGE_IP}\nsearch my-other-namespace.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n`;

/** Why real capture cannot run here (so the demo uses proxy-env mode), or undefined. */
export function captureUnavailable(): string | undefined {
  const reason = netnsUnavailable();
  if (reason !== undefined) return reason;
  // The sidecar runs from this checkout as UID 1337, as the e2e test does.
  const readable = (path: string): boolean => {
    try {
      execFileSync(
        'setpriv',
        [`--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups', 'test', '-r', path],
        { stdio: 'ignore' },
      );
      return true;
    } catch {
      return false;
    }
  };
  if (!readable(`${REPO_ROOT}bin/detour.ts`) || !readable(`${REPO_ROOT}node_modules/tsx`)) {
    return `the checkout ${REPO_ROOT} is not readable by the sidecar's UID ${PROXY_UID}`;
  }
  return undefined;
}

export class NetnsStage implements DemoStage {
  readonly routesCommand = 'detour routes';
  readonly #useCurl = hasCommand('curl');
  readonly #lab = NetnsLab.create();
  #client: NetnsPod | undefined;
  #sidecar: NetnsProcess | undefined;

  async startReplicas(): Promise<string[]> {
    const lines = [`(network namespaces ${this.#lab.id}-*, on a bridge at ${BRIDGE_IP})`];
    for (const [i, ip] of REPLICA_IPS.entries()) {
      const name = SEED_REPLICAS[i] ?? 'replica';
      const pod = this.#lab.addPod(`app${i + 1}`, { ip, resolvConf: RESOLV_CONF });
      const replica = this.#lab.spawn(pod.ns, echoServerArgv(name, 3000), { uid: APP_UID });
      await waitUntil(`${name} to listen on ${ip}:3000`, () => {
        if (replica.child.exitCode !== null) throw new Error(`${name}: ${replica.stderr()}`);
        return replica.stdout().includes('listening');
      });
      lines.push(`${name} listening on ${ip}:3000 in its pod (netns ${pod.ns})`);
    }
    return lines;
  }

  clusterYaml(): string {
    return seedClusterYaml(POD_IPS);
  }

  async startSidecar(pod: InjectedPod, clusterFile: string): Promise<string[]> {
    if (pod.initArgs === undefined) throw new Error('detour inject rendered no init container');
    const client = this.#lab.addPod('my-other-application', {
      ip: CLIENT_IP,
      resolvConf: RESOLV_CONF,
    });
    this.#client = client;
    const lines = [
      `   my-other-application's pod: netns ${client.ns}, ${CLIENT_IP}`,
      `$ detour ${pod.initArgs.join(' ')}`,
      `   (the init container, as root in the pod's network namespace)`,
    ];
    const init = await this.#run([process.execPath, ...detourArgv(pod.initArgs)]);
    if (init.code !== 0) throw new Error(`detour init failed: ${init.stderr}`);
    const rules = await this.#run(['iptables-save', '-t', 'nat']);
    for (const rule of rules.stdout.split('\n').filter((l) => l.startsWith('-A DETOUR'))) {
      lines.push(`   ${rule}`);
    }

    const args = [...pod.proxyArgs, '--source', `file:${clusterFile}`];
    const sidecar = this.#lab.spawn(client.ns, [process.execPath, ...detourArgv(args)], {
      uid: PROXY_UID,
      env: {
        ...NO_PROXY_ENV,
        POD_NAME: 'my-other-application-5f6d7c8b9-klmno',
        POD_NAMESPACE: 'my-other-namespace',
      },
    });
    this.#sidecar = sidecar;
    await waitSidecarReady(sidecar, () =>
      this.#run(appCallArgv('http://127.0.0.1:15000/ready', [], this.#useCurl)),
    );
    lines.push(
      `$ detour ${args.join(' ')}`,
      `   (the sidecar, as UID ${PROXY_UID}; cluster.yaml's pod IPs are the replicas' ${REPLICA_IPS.join(', ')})`,
      '   ready: GET http://127.0.0.1:15000/ready -> 200',
    );
    return lines;
  }

  async startApiManager(consumers: Readonly<Record<string, string>>): Promise<ApiManager> {
    const pod = this.#lab.addPod('api-manager', { ip: API_MANAGER_IP, resolvConf: RESOLV_CONF });
    const { argv, env } = apiManagerCommand(
      `${REPO_ROOT}${API_MANAGER_SCRIPT}`,
      '0.0.0.0',
      8080,
      consumers,
    );
    const manager = this.#lab.spawn(pod.ns, argv, { uid: APP_UID, env });
    await waitUntil('api-manager to listen', () => {
      if (manager.child.exitCode !== null) throw new Error(`api-manager: ${manager.stderr()}`);
      return manager.stdout().includes('listening');
    });
    return {
      checkUrl: `http://${API_MANAGER_IP}:8080/check`,
      lines: [`${manager.stdout().split('\n')[0] ?? ''} in its pod (netns ${pod.ns})`],
      log: () =>
        manager
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{')),
    };
  }

  async lookup(host: string): Promise<string | undefined> {
    const result = await this.#run(['getent', 'ahostsv4', host], APP_UID);
    return result.stdout.split(/\s/)[0] ?? '';
  }

  async call(url: string, headers: readonly string[] = []): Promise<HttpReply> {
    return parseAppCall(url, await this.#run(appCallArgv(url, headers, this.#useCurl), APP_UID));
  }

  callCommand(url: string, headers: readonly string[] = []): string {
    return appCallCommand(url, headers, this.#useCurl);
  }

  sidecarLog(): string[] {
    return this.#sidecar?.stdout().split('\n') ?? [];
  }

  async routes(args: readonly string[]): Promise<string> {
    const result = await this.#run([process.execPath, ...detourArgv(['routes', ...args])]);
    if (result.code !== 0) throw new Error(`detour routes failed: ${result.stderr}`);
    return result.stdout;
  }

  async stopSidecar(): Promise<number | null> {
    return this.#sidecar === undefined ? null : stop(this.#sidecar.child);
  }

  async cleanup(): Promise<string[]> {
    const id = this.#lab.id;
    await this.#lab.cleanup();
    return [
      `stopped every process and deleted the network namespaces ${id}-* and /etc/netns/${id}-*`,
    ];
  }

  /** Runs `argv` in my-other-application's pod (as root unless `uid`), no proxy settings. */
  #run(argv: string[], uid?: number): Promise<ExecResult> {
    if (this.#client === undefined) throw new Error("my-other-application's pod is not up yet");
    return this.#lab.exec(this.#client.ns, argv, {
      env: NO_PROXY_ENV,
      timeoutMs: 30_000,
      ...(uid === undefined ? {} : { uid }),
    });
  }
}
