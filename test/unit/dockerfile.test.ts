import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.js';
import { execForm, parseDockerfile, type Instruction, type Stage } from '../support/dockerfile.js';

// There is no Docker engine on the build machines, so the image is checked by reading
// the Dockerfile; test/integration/build-entry.test.ts checks that what it builds runs.
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

  it('compiles with npm ci + npm run build and installs only production dependencies at run time', () => {
    const build = dockerfile.stages.find((s) => /npm run build/.test(runs(s)));
    expect(build, 'a stage that runs npm run build').to.not.equal(undefined);
    expect(runs(build!)).to.match(/\bnpm ci\b/);
    expect(runs(build!)).to.not.match(/--omit=dev/);
    const prodInstall = dockerfile.stages.find((s) => /npm ci\b.*--omit=dev/.test(runs(s)));
    expect(prodInstall, 'a stage that runs npm ci --omit=dev').to.not.equal(undefined);
    const copies = all(runtime, 'COPY').map((i) => i.args);
    expect(copies).to.include.members([
      `--from=${build!.name ?? ''} /src/dist ./dist`,
      `--from=${prodInstall!.name ?? ''} /app/node_modules ./node_modules`,
    ]);
  });

  it('copies every source folder the build compiles, none of which .dockerignore drops', () => {
    const buildConfig = JSON.parse(
      readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8'),
    ) as { include: string[] };
    const build = dockerfile.stages.find((s) => /npm run build/.test(runs(s)))!;
    const copied = all(build, 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const folder of buildConfig.include) {
      expect(copied, `COPY ${folder}`).to.include(folder);
      expect(dockerignore, `.dockerignore must keep ${folder}`).to.not.include(folder);
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

  it('puts `detour` on PATH as the package.json bin entry point', () => {
    const bin = pkg.bin.detour;
    expect(bin).to.equal('dist/bin/detour.js');
    expect(runs(runtime)).to.contain(`ln -s /app/${bin} /usr/local/bin/detour`);
    expect(runs(runtime)).to.contain(`chmod 0755 ${bin}`);
    // The shebang is what makes the symlink executable.
    expect(readFileSync(join(REPO_ROOT, 'bin/detour.ts'), 'utf8')).to.match(
      /^#!\/usr\/bin\/env node\n/,
    );
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
