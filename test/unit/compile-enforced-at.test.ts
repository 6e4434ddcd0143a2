import { expect } from 'chai';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { inboundEnforcedPorts } from '../../shared/inbound-status.js';
import { routablePod } from '../support/routable-pod.js';

/**
 * `enforcedAt` (DESIGN.md "Enforce at the destination"): a route is checked at the
 * destination only when every endpoint pod's `detour.dev/status` says its sidecar
 * enforces inbound on the endpoint's port.
 */
const config = loadPlaneConfig('private', {});

function status(inbound: unknown): Record<string, string> {
  return {
    'detour.dev/status': JSON.stringify({
      version: 1,
      initContainers: ['detour-init'],
      containers: [],
      volumes: [],
      ...(inbound === undefined ? {} : { inbound }),
    }),
  };
}

function pod(
  name: string,
  ip: string,
  annotations: Record<string, string>,
  paths = '3000:/',
): ReturnType<typeof routablePod> {
  return routablePod({
    name,
    ip,
    ports: [3000, 4000],
    hosts: 'web.my-namespace',
    paths,
    annotations,
  });
}

/** path -> enforcedAt of the one table compiled from `pods`. */
function marks(pods: ReturnType<typeof routablePod>[]): Record<string, string | undefined> {
  const [table] = compile({ pods, secrets: [] }, config);
  return Object.fromEntries((table?.spec.routes ?? []).map((r) => [r.path, r.enforcedAt]));
}

const ENFORCE = status({ mode: 'enforce', ports: [3000] });

describe('compile: enforcedAt', () => {
  it('marks a route destination when its only pod enforces inbound on the port', () => {
    expect(marks([pod('a', '127.0.0.1', ENFORCE)])).to.deep.equal({ '/': 'destination' });
  });

  it('marks caller when the port is not among the enforced ports', () => {
    expect(marks([pod('a', '127.0.0.1', ENFORCE, '4000:/')])).to.deep.equal({ '/': 'caller' });
  });

  it('marks each route of one pod by its own port', () => {
    expect(marks([pod('a', '127.0.0.1', ENFORCE, '3000:/a 4000:/b')])).to.deep.equal({
      '/a': 'destination',
      '/b': 'caller',
    });
  });

  for (const [what, annotations] of [
    ['no status annotation', {}],
    ['a status without inbound (injected before inbound existed)', status(undefined)],
    ['inbound mode off', status({ mode: 'off', ports: [3000] })],
    ['an unreadable status', { 'detour.dev/status': '{not json' }],
    ['ports that are not a list', status({ mode: 'enforce', ports: '3000' })],
  ] as const) {
    it(`marks caller with ${what}`, () => {
      expect(marks([pod('a', '127.0.0.1', annotations)])).to.deep.equal({ '/': 'caller' });
    });
  }

  it('marks a mixed pool caller: one pod without inbound enforcement is enough', () => {
    const pool = [
      pod('a', '127.0.0.1', ENFORCE),
      pod('b', '127.0.0.2', status({ mode: 'off' })),
      pod('c', '127.0.0.3', ENFORCE),
    ];
    expect(marks(pool)).to.deep.equal({ '/': 'caller' });
    expect(marks(pool.filter((p) => p.metadata?.name !== 'b'))).to.deep.equal({
      '/': 'destination',
    });
  });

  it('reads the inbound contract of detour.dev/status', () => {
    const read = (annotations: Record<string, string>): number[] => [
      ...inboundEnforcedPorts(routablePod({ annotations })),
    ];
    expect(read(status({ mode: 'enforce', ports: [8080, 9090, 'x', 1.5] }))).to.deep.equal([
      8080, 9090,
    ]);
    expect(read(status({ mode: 'enforce', ports: [] }))).to.deep.equal([]);
    expect(read({ 'detour.dev/status': 'null' })).to.deep.equal([]);
  });
});
