import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.js';
import { execForm, parseDockerfile, type Instruction, type Stage } from '../support/dockerfile.js';
import { BUNDLES, SOURCE_FOLDERS } from '../../scripts/build/bundles.js';

// There is no Docker engine on the build machines, so the image is checked by reading
// the Dockerfile; test/integration/bundle.test.ts checks that what it builds runs.
const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
};
const runtime = dockerfile.stages.at(-1)!;

function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

function runs(stage: Stage): string {
  return all(stage, 'RUN')
    .map((i) => i.args)
    .join('\n');
}

describe('Dockerfile', () => {
  it('builds every stage FROM the official Node 24 slim image', () => {
    expect(dockerfile.stages.length).to.be.at.least(2, 'multi-stage');
    for (const stage of dockerfile.stages) {
      expect(stage.image).to.match(/^node:24[-.\w]*-slim$/, `stage ${stage.name ?? '?'}`);
    }
  });

  it('bundles with npm ci + npm run build and ships dist/ alone: no node_modules at run time', () => {
    const build = dockerfile.stages.find((s) => /npm run build/.test(runs(s)));
    expect(build, 'a stage that runs npm run build').to.not.equal(undefined);
    expect(runs(build!)).to.match(/\bnpm ci\b/);
    expect(runs(build!)).to.not.match(/--omit=dev/);
    const copies = all(runtime, 'COPY').map((i) => i.args);
    expect(copies).to.include(`--from=${build!.name ?? ''} /src/dist ./dist`);
    // The bundles inline every dependency (scripts/build.ts).
    expect(copies.join('\n')).to.not.match(/node_modules/);
    expect(runs(runtime)).to.not.match(/\bnpm\b/);
  });

  it('copies the build script and every source folder it bundles, none of which .dockerignore drops', () => {
    const build = dockerfile.stages.find((s) => /npm run build/.test(runs(s)))!;
    const copied = all(build, 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const source of [...SOURCE_FOLDERS, 'scripts/build.ts', 'scripts/build']) {
      expect(copied, `COPY ${source}`).to.include(source);
      const kept = dockerignore.includes(`!${source}`) || !dockerignore.includes(source);
      expect(kept, `.dockerignore must keep ${source}`).to.equal(true);
    }
    for (const source of copied) {
      expect(existsSync(join(REPO_ROOT, source)), `${source} exists`).to.equal(true);
    }
  });

  it('installs iptables (legacy and nft backends) without recommended packages', () => {
    const install = all(runtime, 'RUN').find((i) => /apt-get install/.test(i.args));
    expect(install, 'apt-get install in the runtime stage').to.not.equal(undefined);
    expect(install!.args).to.match(/apt-get install -y --no-install-recommends [^&]*\biptables\b/);
    expect(install!.args).to.match(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('runs as the proxy UID/GID 1337 with ENTRYPOINT ["detour"]', () => {
    const users = all(runtime, 'USER');
    expect(users.at(-1)?.args).to.equal('1337:1337');
    const entrypoint = all(runtime, 'ENTRYPOINT').at(-1);
    expect(execForm(entrypoint?.args ?? '')).to.deep.equal(['detour']);
    // USER comes after every RUN: installing packages needs root, running must not.
    const lastRun = all(runtime, 'RUN').at(-1)!.line;
    expect(users.at(-1)!.line).to.be.greaterThan(lastRun);
  });

  it('puts each bundle on PATH under its package.json bin name', () => {
    for (const bundle of BUNDLES) {
      const bin = pkg.bin[bundle.command];
      expect(bin, `package.json bin.${bundle.command}`).to.equal(`dist/${bundle.name}.js`);
      expect(runs(runtime)).to.contain(`ln -s /app/${bin} /usr/local/bin/${bundle.command}`);
      expect(runs(runtime)).to.match(
        new RegExp(`chmod 0755 [^&]*\\b${bin!.replace('.', '\\.')}\\b`),
      );
      // The shebang is what makes the symlink executable.
      expect(readFileSync(join(REPO_ROOT, bundle.source), 'utf8')).to.match(
        /^#!\/usr\/bin\/env node\n/,
      );
    }
  });

  it('ships package.json beside dist/, which makes the compiled files ES modules', () => {
    const copies = all(runtime, 'COPY').map((i) => i.args);
    expect(copies).to.include('package.json ./');
    const workdir = all(runtime, 'WORKDIR').at(-1)?.args;
    expect(workdir).to.equal('/app');
    const type = (
      JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { type: string }
    ).type;
    expect(type).to.equal('module');
  });

  it('keeps local state out of the build context', () => {
    expect(dockerignore).to.include.members(['.git', 'node_modules', 'dist', 'coverage']);
  });
});
