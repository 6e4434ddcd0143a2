/**
 * The image's entry points (Dockerfile, scripts/build.ts): the bundle each is built
 * into, the source it starts from, and the command the image puts on PATH for it.
 */
export interface Bundle {
  /** dist/<name>.js */
  name: string;
  source: string;
  /** The symlink in /usr/local/bin, as package.json "bin" names it. */
  command: string;
}

export const BUNDLES: readonly Bundle[] = [
  { name: 'detour', source: 'bin/detour.ts', command: 'detour' },
  { name: 'detour-proxy', source: 'bin/detour-proxy.ts', command: 'detour-proxy' },
];

/**
 * The folders the bundles are built from: the Dockerfile's build stage copies each
 * (test/unit/dockerfile.test.ts), and scripts/build.ts fails on a source outside them.
 */
export const SOURCE_FOLDERS: readonly string[] = [
  'bin',
  'shared',
  'webhook',
  'sidecar',
  'controller',
  'ops',
];
