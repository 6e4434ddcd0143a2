import { PORTS } from './labels.js';

/**
 * The inbound port map: which app ports the pod's proxy captures, and on which listener.
 * Node cannot read a redirected socket's original destination (there is no
 * `SO_ORIGINAL_DST` in node:net), so each captured app port P gets a listener of its
 * own, `15100 + i` in declaration order, and the listener knows P by being the one
 * iptables sent the connection to.
 *
 * The webhook renders the map as `--inbound 8080=15100,9090=15101` into both `detour
 * init` (nat PREROUTING REDIRECT of P to L) and `detour proxy` (a listener on L that
 * forwards to P); both parse it back with `parseInboundMap`, so they cannot disagree.
 */
export interface InboundPort {
  /** The app's port, as other pods dial it (pod-IP:appPort). */
  appPort: number;
  /** The proxy's listener that iptables redirects appPort to. */
  listenerPort: number;
}

/** Ports detour's own listeners use (admin, outbound, DNS, inbound); never captured. */
export const DETOUR_PORT_RANGE = { from: 15000, to: 15199 } as const;
/** At most this many app ports per pod: 15100 + 63 stays inside detour's range. */
export const MAX_INBOUND_PORTS = 64;

export function isDetourPort(port: number): boolean {
  return DETOUR_PORT_RANGE.from <= port && port <= DETOUR_PORT_RANGE.to;
}

/**
 * Checks an ordered, de-duplicated list of app ports and gives each its listener.
 * Throws a plain Error (the callers name their annotation or flag).
 */
export function assignListeners(appPorts: readonly number[]): InboundPort[] {
  checkAppPorts(appPorts);
  return appPorts.map((appPort, i) => ({ appPort, listenerPort: PORTS.inboundBase + i }));
}

/** `8080=15100,9090=15101` (spaces allowed after commas); the empty string is no ports. */
export function parseInboundMap(value: string): InboundPort[] {
  const text = value.trim();
  if (text === '') return [];
  const map: InboundPort[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const match = /^(\d{1,5})=(\d{1,5})$/.exec(item);
    const appPort = Number(match?.[1]);
    const listenerPort = Number(match?.[2]);
    if (match === null || !isPort(appPort) || !isPort(listenerPort)) {
      throw new Error(`${JSON.stringify(item)} is not APP_PORT=LISTENER_PORT (ports 1-65535)`);
    }
    map.push({ appPort, listenerPort });
  }
  checkAppPorts(map.map((p) => p.appPort));
  const listeners = map.map((p) => p.listenerPort);
  const reused = listeners.find((l, i) => listeners.indexOf(l) !== i);
  if (reused !== undefined) throw new Error(`listener port ${reused} is used twice`);
  return map;
}

export function formatInboundMap(map: readonly InboundPort[]): string {
  return map.map((p) => `${p.appPort}=${p.listenerPort}`).join(',');
}

function checkAppPorts(appPorts: readonly number[]): void {
  if (appPorts.length > MAX_INBOUND_PORTS) {
    throw new Error(
      `${appPorts.length} ports, at most ${MAX_INBOUND_PORTS} (one proxy listener each)`,
    );
  }
  const own = appPorts.find(isDetourPort);
  if (own !== undefined) {
    throw new Error(
      `port ${own} is in detour's own range ${DETOUR_PORT_RANGE.from}-${DETOUR_PORT_RANGE.to}`,
    );
  }
  const repeated = appPorts.find((p, i) => appPorts.indexOf(p) !== i);
  if (repeated !== undefined) throw new Error(`port ${repeated} is listed twice`);
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
