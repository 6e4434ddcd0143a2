import { expect } from 'chai';
import { detourArgv } from '../support/cli.js';
import { NetnsLab, netnsUnavailable, type NetnsPod } from '../support/netns.js';
import { PROXY_UID } from '../../shared/labels.js';

const APP_UID = 1000;

/** A node HTTP server that answers every request with `name` (the app or the proxy's stand-in). */
function namedServer(name: string, port: number): string[] {
  const code = `require('node:http').createServer((q, s) => s.end(${JSON.stringify(name)})).listen(${port}, '0.0.0.0')`;
  return [process.execPath, '-e', code];
}

/**
 * The inbound half of `detour init` in real network namespaces: a connection from
 * another pod to pod-IP:P lands on the proxy's listener L, while the proxy's own
 * connection to pod-IP:P (how it forwards to the app) reaches the app, not itself.
 */
describe('detour init --inbound in network namespaces (root only)', function () {
  this.timeout(60_000);
  let lab: NetnsLab | undefined;
  let dest: NetnsPod;
  let caller: NetnsPod;

  const get = async (from: NetnsPod, url: string, uid?: number): Promise<string> => {
    const result = await lab!.exec(from.ns, ['curl', '-s', '--max-time', '2', url], {
      ...(uid === undefined ? {} : { uid }),
    });
    return result.code === 0 ? result.stdout : `curl exit ${result.code}: ${result.stderr}`;
  };

  const eventually = async (what: () => Promise<string>, expected: string): Promise<string> => {
    let last = '';
    for (let i = 0; i < 40; i++) {
      last = await what();
      if (last === expected) return last;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return last;
  };

  before(async function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    lab = NetnsLab.create();
    dest = lab.addPod('dest');
    caller = lab.addPod('caller');
    const init = detourArgv(['init', '--inbound', '8080=15100,9090=15101']);
    for (let run = 0; run < 2; run++) {
      const result = await lab.exec(dest.ns, [process.execPath, ...init]);
      expect(result.code, result.stderr + result.stdout).to.equal(0);
    }
    lab.spawn(dest.ns, namedServer('app 8080', 8080), { uid: APP_UID });
    lab.spawn(dest.ns, namedServer('app 8081', 8081), { uid: APP_UID });
    lab.spawn(dest.ns, namedServer('listener 15100', 15100), { uid: PROXY_UID });
    lab.spawn(dest.ns, namedServer('listener 15101', 15101), { uid: PROXY_UID });
  });

  after(async () => {
    await lab?.cleanup();
  });

  it('installs the PREROUTING jump once, however often init runs', async () => {
    const save = await lab!.exec(dest.ns, ['iptables-save', '-t', 'nat']);
    expect(save.stdout.match(/-A PREROUTING -j DETOUR_INBOUND/g)).to.have.length(1);
    expect(save.stdout.match(/-A OUTPUT -j DETOUR_OUTPUT/g)).to.have.length(1);
    expect(save.stdout.match(/-A DETOUR_INBOUND /g)).to.have.length(2);
    expect(save.stdout).to.include(
      '-A DETOUR_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15100',
    );
    const v6 = await lab!.exec(dest.ns, ['ip6tables-save', '-t', 'nat']);
    if (v6.code === 0) expect(v6.stdout).to.include('-A PREROUTING -j DETOUR_INBOUND');
  });

  it('sends another pod’s connection to pod-IP:P to the listener for P', async () => {
    expect(
      await eventually(() => get(caller, `http://${dest.ip}:8080/`), 'listener 15100'),
    ).to.equal('listener 15100');
    expect(await get(caller, `http://${dest.ip}:9090/`)).to.equal('listener 15101');
  });

  it('leaves ports that are not in the map alone', async () => {
    expect(await eventually(() => get(caller, `http://${dest.ip}:8081/`), 'app 8081')).to.equal(
      'app 8081',
    );
  });

  it('lets the proxy’s own connection to pod-IP:P reach the app (no loop)', async () => {
    expect(
      await eventually(() => get(dest, `http://${dest.ip}:8080/`, PROXY_UID), 'app 8080'),
    ).to.equal('app 8080');
  });

  it('does not capture the pod’s own calls to itself either', async () => {
    expect(await get(dest, `http://${dest.ip}:8080/`, APP_UID)).to.equal('app 8080');
    expect(await get(dest, 'http://127.0.0.1:8080/', APP_UID)).to.equal('app 8080');
  });
});
