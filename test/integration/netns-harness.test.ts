import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { NetnsLab, netnsUnavailable, sweepStaleNamespaces } from '../support/netns.js';

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

describe('netns harness (root only)', function () {
  this.timeout(60_000);

  before(function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
  });

  it('connects pods through the bridge, runs commands as a UID, and cleans up everything', async () => {
    const lab = NetnsLab.create();
    const names: string[] = [];
    try {
      const a = lab.addPod('a', { resolvConf: 'nameserver 198.18.0.1\n' });
      const b = lab.addPod('b');
      names.push(lab.bridgeNs, a.ns, b.ns);
      expect(namespaces()).to.include.members(names);
      expect(a.ip).to.match(/^198\.18\.0\.\d+$/);

      const server = `require('node:http').createServer((q, s) => s.end('from b')).listen(7000)`;
      lab.spawn(b.ns, [process.execPath, '-e', server], { uid: 1000 });
      let reply = '';
      for (let i = 0; i < 40 && reply !== 'from b'; i++) {
        reply = (await lab.exec(a.ns, ['curl', '-s', '--max-time', '2', `http://${b.ip}:7000/`]))
          .stdout;
        if (reply !== 'from b') await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(reply).to.equal('from b');
      const resolv = await lab.exec(a.ns, ['cat', '/etc/resolv.conf']);
      expect(resolv.stdout).to.equal('nameserver 198.18.0.1\n');
      const id = await lab.exec(a.ns, ['id', '-u'], { uid: 1337 });
      expect(id.stdout.trim()).to.equal('1337');

      const sleeper = lab.spawn(b.ns, ['sleep', '600'], { uid: 1000 });
      await lab.cleanup();
      expect(() => process.kill(sleeper.pid, 0)).to.throw();
    } finally {
      await lab.cleanup();
    }
    for (const ns of names) expect(namespaces()).not.to.include(ns);
    for (const ns of names) expect(existsSync(`/etc/netns/${ns}`)).to.be.false;
  });

  it('sweeps namespaces left by a run that died, and only those', () => {
    const dead = 'detour-t-999999999-1-left-behind'; // above any pid_max
    const alive = NetnsLab.create();
    try {
      execFileSync('ip', ['netns', 'add', dead]);
      mkdirSync(`/etc/netns/${dead}`, { recursive: true });
      const swept = sweepStaleNamespaces();
      expect(swept).to.include(dead);
      expect(namespaces()).not.to.include(dead);
      expect(existsSync(`/etc/netns/${dead}`)).to.be.false;
      expect(namespaces()).to.include(alive.bridgeNs);
    } finally {
      try {
        execFileSync('ip', ['netns', 'del', dead], { stdio: 'ignore' });
      } catch {
        // swept, as expected
      }
      void alive.cleanup();
    }
  });
});
