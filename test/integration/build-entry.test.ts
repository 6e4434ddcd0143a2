import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/cli.js';

const exec = promisify(execFile);

async function jsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.js') && !e.parentPath.includes('node_modules'))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * What the image runs: `npm run build` (tsc -p tsconfig.build.json) output, started
 * through a `detour` symlink to dist/bin/detour.js the way the Dockerfile links it.
 * The build goes to a temporary outDir, so the test never touches the repo's dist/.
 */
describe('built entry point (what the image runs)', function () {
  // tsc over the whole tree takes a while on a busy 2-core machine.
  this.timeout(240_000);
  let out = '';
  let detour = '';

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'detour-build-'));
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const args = [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', out];
    try {
      await exec(process.execPath, args, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      // tsc reports type errors on stdout: show them, not just "Command failed".
      const { stdout = '' } = err as { stdout?: string };
      throw new Error(`npm run build (tsc -p tsconfig.build.json) failed:\n${stdout}`, {
        cause: err,
      });
    }
    // In the image, /app/package.json makes dist/ ESM and /app/node_modules resolves imports.
    await writeFile(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
    await symlink(join(REPO_ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    await chmod(join(out, 'bin/detour.js'), 0o755);
    detour = join(out, 'detour');
    await symlink(join(out, 'bin/detour.js'), detour);
  });

  after(async () => {
    if (out !== '') await rm(out, { recursive: true, force: true });
  });

  it('emits bin/detour.js and every command module the dispatcher loads', async () => {
    for (const file of [
      'bin/detour.js',
      'webhook/webhook-command.js',
      'webhook/inject-command.js',
      'controller/controller-command.js',
      'sidecar/proxy-command.js',
      'sidecar/init/init-command.js',
      'sidecar/routes-command.js',
    ]) {
      expect((await stat(join(out, file))).isFile(), file).to.equal(true);
    }
  });

  it('imports at run time only production dependencies (the image has no devDependencies)', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const offenders: string[] = [];
    for (const file of await jsFiles(out)) {
      const code = await readFile(file, 'utf8');
      // Static imports/re-exports and dynamic import() of bare specifiers.
      for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"./][^'"]*)['"]/g)) {
        const specifier = m[1]!;
        if (specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : specifier.split('/')[0]!;
        if (!(name in pkg.dependencies)) offenders.push(`${relative(out, file)}: ${specifier}`);
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('runs `detour --help` through the symlink, via its shebang', async () => {
    // The shebang says `/usr/bin/env node`: put the test's Node 24 first, as the image does.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const { stdout } = await exec(detour, ['--help'], { env, timeout: 30_000 });
    expect(stdout).to.match(/^usage: detour <command>/);
    for (const name of ['webhook', 'controller', 'proxy', 'init', 'inject', 'routes']) {
      expect(stdout).to.match(new RegExp(`^  ${name} `, 'm'));
    }
  });
});
