import type * as NodeHttp from 'node:http';
import type * as NodeHttps from 'node:https';
import net from 'node:net';
import {
  APP_PROBES_ENV,
  parseAppProbes,
  type AppProbe,
  type AppProbes,
} from '../shared/app-probes.js';
import { BadKnobError, errorMessage } from '../shared/errors.js';
import { http } from './node-http.js';

/**
 * node:https, loaded by the first HTTPS probe: loading it starts TLS, about 5 MB of RSS
 * (`npm run bench -- footprint`) that a pod whose probes are all HTTP never needs. Read
 * with getBuiltinModule for the reason node-http.ts gives.
 */
function https(): typeof NodeHttps {
  return process.getBuiltinModule('node:https');
}

/**
 * The proxy's half of probe rewriting (shared/app-probes.ts): `GET
 * /app-health/<container>/<livez|readyz|startupz>` on the admin port runs the app's
 * original probe straight against the app, never through the proxy's request pipeline,
 * so a probe needs no API key and fails when the app does. It does what the kubelet's
 * prober does:
 * https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
 * - httpGet: GET scheme://host:port/path, host defaulting to the pod IP; HTTPS without
 *   verifying the certificate; `httpHeaders` added (a `Host` header sets the Host);
 *   `User-Agent` and `Accept` as the kubelet sent them to us unless the probe sets its
 *   own; 200-399 is success. Redirects are not followed: a 3xx is already a success.
 * - tcpSocket: a TCP connect to host:port succeeds or not.
 * - timeoutSeconds (default 1) bounds the whole check.
 * Istio's pilot-agent does the same for `/app-health/...` (prober.go in
 * istio/istio pkg/istio-agent/status).
 *
 * The probes are fixed at start from DETOUR_APP_PROBES, so the endpoint, reachable by
 * the kubelet from outside the pod, can only ever dial what the pod spec said.
 */
export type ProbeOutcome =
  | { status: 200 | 503; body: { probe: string; ok: boolean; detail: string } }
  | { status: 404; body: { error: string; probes: string[] } };

const DEFAULT_TIMEOUT_SECONDS = 1; // the Kubernetes default of Probe.timeoutSeconds

export class AppHealth {
  readonly #probes: AppProbes;
  readonly #podIp: string;

  constructor(probes: AppProbes, podIp: string) {
    this.#probes = probes;
    this.#podIp = podIp;
  }

  /** From the env the webhook rendered; a malformed DETOUR_APP_PROBES stops the proxy. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): AppHealth {
    const json = env[APP_PROBES_ENV];
    let probes: AppProbes = {};
    if (json !== undefined && json !== '') {
      try {
        probes = parseAppProbes(json);
      } catch (err) {
        throw new BadKnobError(APP_PROBES_ENV, json, errorMessage(err));
      }
    }
    // Outside a pod there is no POD_IP: the app is then on this host's loopback.
    return new AppHealth(probes, env.POD_IP ?? '127.0.0.1');
  }

  /** `name` is `<container>/<livez|readyz|startupz>`, the path after `/app-health/`. */
  async check(name: string, incoming: NodeHttp.IncomingHttpHeaders): Promise<ProbeOutcome> {
    const probe = Object.hasOwn(this.#probes, name) ? this.#probes[name] : undefined;
    if (probe === undefined) {
      return {
        status: 404,
        body: { error: `no app probe ${JSON.stringify(name)}`, probes: Object.keys(this.#probes) },
      };
    }
    const timeoutMs = (probe.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    let detail: string;
    let ok: boolean;
    try {
      detail = await withTimeout(runProbe(probe, this.#podIp, incoming), timeoutMs);
      ok = true;
    } catch (err) {
      detail = errorMessage(err);
      ok = false;
    }
    return { status: ok ? 200 : 503, body: { probe: name, ok, detail } };
  }
}

/** Resolves with a description of the success; rejects with the reason of a failure. */
function runProbe(
  probe: AppProbe,
  podIp: string,
  incoming: NodeHttp.IncomingHttpHeaders,
): (signal: AbortSignal) => Promise<string> {
  if (probe.httpGet !== undefined) {
    const action = probe.httpGet;
    return (signal) => httpGet(action, podIp, incoming, signal);
  }
  const action = probe.tcpSocket ?? { port: 0 };
  return (signal) => tcpConnect(action.host ?? podIp, action.port, signal);
}

function httpGet(
  action: NonNullable<AppProbe['httpGet']>,
  podIp: string,
  incoming: NodeHttp.IncomingHttpHeaders,
  signal: AbortSignal,
): Promise<string> {
  const secure = action.scheme === 'HTTPS';
  const path = action.path ?? '/';
  return new Promise((resolve, reject) => {
    const req = (secure ? https() : http).request(
      {
        host: action.host ?? podIp,
        port: action.port,
        path: path.startsWith('/') ? path : `/${path}`,
        method: 'GET',
        headers: probeHeaders(action.httpHeaders ?? [], incoming),
        // The kubelet opens a fresh connection per probe (DisableKeepAlives).
        agent: false,
        signal,
        // As the kubelet's prober: a probe checks liveness, not the certificate.
        ...(secure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        req.destroy();
        if (status >= 200 && status < 400) resolve(`HTTP ${status}`);
        else reject(new Error(`HTTP probe failed with status ${status}`));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * The kubelet's headers: the probe's `httpHeaders` (repeats add values), then
 * User-Agent and Accept when the probe sets neither; an empty Accept removes it.
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/probe/http/request.go
 */
function probeHeaders(
  httpHeaders: readonly { name: string; value: string }[],
  incoming: NodeHttp.IncomingHttpHeaders,
): Record<string, string | string[]> {
  const headers = new Map<string, string[]>();
  for (const { name, value } of httpHeaders) {
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), value]);
  }
  if (!headers.has('user-agent')) {
    headers.set('user-agent', [incoming['user-agent'] ?? 'kube-probe/detour']);
  }
  if (!headers.has('accept')) headers.set('accept', [incoming.accept ?? '*/*']);
  if (headers.get('accept')?.every((v) => v === '') === true) headers.delete('accept');
  // Host is one value (Go's prober takes the first); node refuses an array for it.
  return Object.fromEntries(
    [...headers].map(([key, values]) => [key, key === 'host' ? (values[0] ?? '') : values]),
  );
}

function tcpConnect(host: string, port: number, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, signal });
    socket.once('connect', () => {
      socket.destroy();
      resolve(`TCP connect to ${host}:${port}`);
    });
    socket.once('error', reject);
  });
}

async function withTimeout(
  run: (signal: AbortSignal) => Promise<string>,
  timeoutMs: number,
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new Error(`probe timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  try {
    return await run(controller.signal);
  } catch (err) {
    // An abort rejects with an AbortError whose cause is our timeout message.
    throw controller.signal.aborted ? (controller.signal.reason as Error) : err;
  } finally {
    clearTimeout(timer);
  }
}
