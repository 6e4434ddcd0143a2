import fc from 'fast-check';

/**
 * fast-check generators for the webhook's and `detour inject`'s property tests:
 * well-formed pods, the same pods with one value anywhere replaced by anything, and
 * YAML streams made of plausible and broken pieces.
 */
const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
/**
 * App ports outside detour's own range (15000-15199): an app declaring one cannot run
 * beside the proxy, and injection refuses it by name (a test of its own says so).
 */
const portNumber = fc.oneof(
  fc.integer({ min: 1, max: 14_999 }),
  fc.integer({ min: 15_200, max: 65_535 }),
);

const container = fc.record(
  {
    name,
    image: fc.constant('nginx:1.27'),
    env: fc.array(
      fc.record(
        { name: name.map((n) => n.toUpperCase().replaceAll('-', '_')), value: fc.string() },
        { requiredKeys: ['name'] },
      ),
      { maxLength: 3 },
    ),
    ports: fc.array(
      fc.record(
        { containerPort: portNumber, protocol: fc.constantFrom('TCP', 'UDP') },
        { requiredKeys: ['containerPort'] },
      ),
      { maxLength: 2 },
    ),
    readinessProbe: fc.oneof(
      fc.record({
        httpGet: fc.record({ port: fc.oneof(portNumber, name), path: fc.constant('/') }),
      }),
      fc.record({ tcpSocket: fc.record({ port: portNumber }) }),
    ),
    securityContext: fc.record({ runAsUser: fc.integer({ min: 0, max: 2000 }) }),
    resources: fc.record({
      requests: fc.record({ cpu: fc.oneof(fc.constant('100m'), fc.constant(1)) }),
    }),
  },
  { requiredKeys: ['name', 'image'] },
);

const containers = (minLength: number) =>
  fc.uniqueArray(container, { minLength, maxLength: 3, selector: (c) => c.name });

/** A Pod the API server would accept (and the injector must handle). */
export const validPod = fc.record(
  {
    apiVersion: fc.constant('v1'),
    kind: fc.constant('Pod'),
    metadata: fc.record(
      {
        name,
        labels: fc.dictionary(name, name, { maxKeys: 2 }),
        annotations: fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        containers: containers(1),
        initContainers: containers(0),
        volumes: fc.array(fc.record({ name, emptyDir: fc.constant({}) }), { maxLength: 2 }),
        automountServiceAccountToken: fc.boolean(),
        securityContext: fc.record({ runAsUser: fc.integer({ min: 0, max: 2000 }) }),
      },
      { requiredKeys: ['containers'] },
    ),
  },
  { requiredKeys: ['apiVersion', 'kind', 'spec'] },
);

/** Any JSON value, the wrong types a hostile or broken client sends included. */
export const anyValue = fc.oneof(
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
  fc.string({ maxLength: 10 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 3 }),
);

export type Path = (string | number)[];

/** Every path to a value inside `value` (the root excluded). */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    return [path, ...pathsOf(child, path)];
  });
}

/** A copy of `value` with the value at `path` replaced. */
export function withValueAt(value: unknown, path: Path, replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = replacement;
  return copy;
}

/** A valid pod with the value at one random path replaced by any value. */
export const mutatedPod = fc
  .tuple(validPod, fc.nat(), anyValue)
  .map(([pod, index, replacement]) => {
    const paths = pathsOf(pod);
    const path = paths[index % paths.length]!;
    return { pod: withValueAt(pod, path, replacement), path, replacement };
  });

/** Pieces of YAML, plausible and broken, so that random streams look like manifests. */
export const yamlText = fc
  .array(
    fc.constantFrom(
      ...['apiVersion: v1\n', 'kind: Pod\n', 'kind: Deployment\n', 'kind: List\n', 'items:\n'],
      ...['metadata:\n', '  name: a\n', '  annotations: {detour.dev/capture: none}\n', 'spec:\n'],
      ...[
        '  template:\n',
        '  containers:\n',
        '  - name: a\n',
        '    env:\n',
        '    - {name: A, value: yes}\n',
      ],
      ...['  initContainers:\n', '  volumes:\n', '  containers: [{name: b}]\n', 'spec: *a\n'],
      ...['---\n', '...\n', '# c\n', '[', ']', '{', '}', ': ', ', ', '- ', '&a ', '*a', '<<: *a\n'],
      ...[
        '0400',
        'yes\n',
        'on',
        '"',
        "'",
        '\t',
        '  ',
        '\n',
        '|\n',
        '>-\n',
        '%YAML 1.1\n',
        '!!str ',
      ],
      ...['? ', 'null\n', '~\n', '\u00e9', '\ufeff', '\r\n', 'x: y: z\n', '@'],
    ),
    { maxLength: 40 },
  )
  .map((pieces) => pieces.join(''));
