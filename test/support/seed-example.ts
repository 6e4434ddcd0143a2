import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './cli.js';

/**
 * The seed's example (manifests/examples/seed/) as the netns e2e test and `npm run demo`
 * both stage it: the containers `detour inject` renders, the cluster objects with the
 * replicas' addresses of the run, the API-key Secret, and a replica that says who it is.
 */
export const SEED_DIR = join(REPO_ROOT, 'manifests/examples/seed');
export const SEED_HOST = 'my-application.my-namespace';
/** The replicas' names in cluster.yaml, in order of their pod IPs 127.0.0.11, .12. */
export const SEED_REPLICAS = [
  'my-application-7d4b9c8f6-abcde',
  'my-application-7d4b9c8f6-fghij',
] as const;

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
}
interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
}

/** What the injected Deployment asks of a "pod" run without a kubelet. */
export interface InjectedPod {
  /** The init container's args (undefined in proxy-env mode: there is no init container). */
  initArgs: string[] | undefined;
  proxyArgs: string[];
  /** The app container's literal env values (proxy-env mode adds HTTP_PROXY and friends). */
  appEnv: Record<string, string>;
}

/** Reads the containers out of `detour inject`'s output for my-other-application. */
export function parseInjectedPod(injectedYaml: string): InjectedPod {
  const injected = parseAllDocuments(injectedYaml)[0]?.toJS() as
    { spec?: { template?: { spec?: PodSpec } } } | undefined;
  const spec = injected?.spec?.template?.spec;
  if (spec === undefined) throw new Error('detour inject printed no Deployment pod template');
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const init = all.find((c) => c.name === 'detour-init');
  const proxy = all.find((c) => c.name === 'detour-proxy');
  const app = spec.containers.find((c) => c.name === 'my-other-application');
  if (proxy === undefined) throw new Error('detour inject added no detour-proxy container');
  const appEnv: Record<string, string> = {};
  for (const e of app?.env ?? []) if (e.value !== undefined) appEnv[e.name] = e.value;
  return { initArgs: init?.args, proxyArgs: proxy.args ?? [], appEnv };
}

/** The seed's cluster.yaml with its loopback pod IPs replaced (`from` -> `to`). */
export function seedClusterYaml(podIps: Readonly<Record<string, string>> = {}): string {
  let text = readFileSync(join(SEED_DIR, 'cluster.yaml'), 'utf8');
  for (const [from, to] of Object.entries(podIps)) text = text.split(from).join(to);
  return text;
}

/** The routing Secret that makes my-namespace's routes require `apiKey`, as a YAML document. */
export function routingSecretYaml(apiKey: string): string {
  return `\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: routing\n  namespace: my-namespace\ntype: Opaque\nstringData:\n  private-api-key: ${apiKey}\n`;
}

/**
 * argv of a replica: an HTTP server on `host:port` answering JSON with its name and what
 * it was asked (path, Host, the API-key header if one got through, and behind an
 * ApiPolicy's forwardAuth the consumer and whether the consumer's key got through). It prints
 * "listening" once bound, so a caller can wait for that instead of polling.
 */
export function echoServerArgv(name: string, port: number, host = '0.0.0.0'): string[] {
  const script = `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ pod: ${JSON.stringify(name)}, url: q.url, host: q.headers.host, apiKey: q.headers['x-routing-api-key'] ?? null, ...(q.headers['x-consumer-id'] === undefined ? {} : { consumer: q.headers['x-consumer-id'], apiManagerKey: q.headers['x-api-key'] ?? null }) })); }).listen(${port}, ${JSON.stringify(host)}, () => console.log('listening'));`;
  return [process.execPath, '-e', script];
}
