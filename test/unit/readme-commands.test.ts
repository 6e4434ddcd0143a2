import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runDetour } from '../support/cli.js';
import { hasKubectl } from '../support/manifests.js';

/**
 * The README's promise that its commands work as written. A ```sh block preceded by the
 * line `<!-- runnable -->` holds commands that need no cluster (the convention is in the
 * README's Development section). Every command in such a block must exist (an npm
 * built-in or script, a `detour` command with flags it accepts, a kustomization), and
 * the cheap ones run for real: `npm run detour -- ...` through the entry point, and
 * `kubectl kustomize DIR`. `npm test`, `npm ci` and `npm run demo` are only checked to
 * exist: running them from a test would recurse or take minutes.
 */
const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const SCRIPTS = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;
const NPM_BUILTINS = new Set(['ci', 'install', 'test']);

/** Commands of the runnable blocks: comments dropped, `\` continuations joined. */
function runnableCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/<!-- runnable -->\s*\n```(?:sh|bash)\n([\s\S]*?)```/g)];
  return blocks.flatMap((m) =>
    (m[1] ?? '')
      .replace(/\s*\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
      .filter((line) => line !== ''),
  );
}

/** Naive shell words: the README's runnable commands use no quoting tricks. */
const words = (command: string): string[] => command.split(/\s+/);

function detourArgs(command: string): string[] | undefined {
  const w = words(command);
  if (w[0] !== 'npm' || w[1] !== 'run') return undefined;
  const rest = w.slice(2).filter((x) => x !== '-s' && x !== '--silent');
  if (rest[0] !== 'detour') return undefined;
  return rest[1] === '--' ? rest.slice(2) : rest.slice(1);
}

describe('README: runnable commands', function () {
  this.timeout(60_000);
  const commands = runnableCommands(README);

  it('finds the runnable blocks', () => {
    expect(commands.length).to.be.greaterThan(0);
    expect(runnableCommands('<!-- runnable -->\n```sh\na \\\n  b # c\n# d\n```\n')).to.deep.equal([
      'a b',
    ]);
  });

  it('uses only npm built-ins, npm scripts, detour and kubectl kustomize', () => {
    for (const command of commands) {
      const [tool, verb, target] = words(command);
      if (tool === 'npm') {
        const script =
          verb === 'run'
            ? words(command)
                .slice(2)
                .find((x) => !x.startsWith('-'))
            : verb;
        expect(
          NPM_BUILTINS.has(verb ?? '') || (script !== undefined && script in SCRIPTS),
          `${command}: npm script ${script ?? '?'}`,
        ).to.equal(true);
        continue;
      }
      if (tool === 'kubectl') {
        expect(verb, command).to.equal('kustomize');
        expect(existsSync(join(REPO_ROOT, target ?? '', 'kustomization.yaml')), command).to.equal(
          true,
        );
        continue;
      }
      expect.fail(`${command}: not a command the README test knows how to check`);
    }
  });

  for (const command of commands.filter((c) => detourArgs(c) !== undefined)) {
    it(`runs: ${command}`, async () => {
      const args = detourArgs(command)!;
      const help = await runDetour([args[0]!, '--help']);
      expect(help.code, `detour ${args[0] ?? ''} --help`).to.equal(0);
      for (const flag of args.filter((a) => a.startsWith('--'))) {
        expect(help.stdout, `detour ${args[0] ?? ''} documents ${flag}`).to.contain(flag);
      }
      const r = await runDetour(args, { timeoutMs: 30_000 });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.not.equal('');
    });
  }

  for (const command of commands.filter((c) => c.startsWith('kubectl kustomize '))) {
    it(`runs: ${command}`, function () {
      if (!hasKubectl()) this.skip();
      const r = spawnSync('kubectl', words(command).slice(1), {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^apiVersion: /m);
    });
  }
});
