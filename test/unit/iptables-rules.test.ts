import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultCaptureSettings, toInitArgs } from '../../shared/capture-settings.js';
import { isDetourError } from '../../shared/errors.js';
import { assignListeners } from '../../shared/inbound-ports.js';
import { parseInitFlags } from '../../sidecar/init/init-flags.js';
import {
  buildIptablesPayload,
  INBOUND_JUMP,
  multiportGroups,
  OUTPUT_JUMP,
  withoutExistingJump,
} from '../../sidecar/init/iptables-rules.js';

const GOLDEN_DIR = fileURLToPath(new URL('../testdata/iptables/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** Each case is the `detour init` flags (as the webhook renders them) and the payload it must print. */
const CASES: Record<string, string[]> = {
  defaults: [],
  'webhook-rendered-defaults': toInitArgs(defaultCaptureSettings()).slice(1),
  'extra-capture-ports': ['--capture-ports', '80,8080,9000-9100'],
  'capture-ports-long-list-split': [
    '--capture-ports',
    '80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,8000-8100',
  ],
  'wildcard-capture': ['--capture-ports', '*'],
  'no-capture-ports-vip-only': ['--capture-ports', ''],
  'excluded-ports-with-ranges': ['--exclude-outbound-ports', '22,5000-5100,6379'],
  'excluded-ports-long-list-split': [
    '--exclude-outbound-ports',
    '21,22,23,25,110,143,389,443,465,587,636,993,995,1433,1521,3000-3999,5432,6379,9000-9100',
  ],
  'excluded-port-53-turns-dns-off': ['--exclude-outbound-ports', '53'],
  'excluded-cidrs-ipv4': ['--exclude-outbound-cidrs', '198.18.0.0/15,198.19.255.1'],
  'excluded-cidrs-dual-stack': ['--exclude-outbound-cidrs', '198.18.0.0/16,2001:db8::/32'],
  'custom-proxy-uid': ['--proxy-uid', '2102'],
  'dns-capture-off': ['--dns-capture', 'false'],
  'custom-ports-and-vip-range': [
    '--outbound-port',
    '16001',
    '--dns-port',
    '16053',
    '--vip-cidr',
    '240.241.0.0/16',
  ],
  'ipv4-only': ['--ipv6', 'false'],
  'inbound-two-ports': ['--inbound', '8080=15100, 9090=15101'],
  'webhook-rendered-inbound': toInitArgs({
    ...defaultCaptureSettings(),
    inbound: assignListeners([80, 8080, 9090]),
  }).slice(1),
};

/** What `detour init --dry-run FLAGS` prints. */
function dryRun(args: string[]): string {
  const { settings, ipv6 } = parseInitFlags(args);
  const v4 = buildIptablesPayload(settings, 4);
  return ipv6 === 'false' ? v4 : v4 + buildIptablesPayload(settings, 6);
}

describe('iptables rules (golden files in test/testdata/iptables)', () => {
  for (const [name, args] of Object.entries(CASES)) {
    it(`${name}: ${args.join(' ') || '(no flags)'}`, () => {
      const file = `${GOLDEN_DIR}${name}.rules`;
      const actual = dryRun(args);
      if (UPDATE) {
        mkdirSync(GOLDEN_DIR, { recursive: true });
        writeFileSync(file, actual);
      }
      expect(existsSync(file), `${file} missing: run npm run golden:refresh`).to.be.true;
      expect(actual).to.equal(readFileSync(file, 'utf8'));
    });
  }

  it('the webhook rendering of the defaults gives the defaults', () => {
    expect(dryRun(CASES['webhook-rendered-defaults']!)).to.equal(dryRun([]));
  });

  it('never captures the proxy UID, and checks it before any redirect', () => {
    const settings = { ...defaultCaptureSettings(), proxyUid: 4242 };
    for (const family of [4, 6] as const) {
      const rules = buildIptablesPayload(settings, family).split('\n');
      const owner = rules.indexOf('-A DETOUR_OUTPUT -m owner --uid-owner 4242 -j RETURN');
      expect(owner).to.be.greaterThan(-1);
      const firstRedirect = rules.findIndex(
        (r) => r.startsWith('-A DETOUR_OUTPUT') && /REDIRECT/.test(r),
      );
      expect(owner).to.be.lessThan(firstRedirect);
    }
  });

  it('redirects DNS before returning loopback traffic', () => {
    const rules = buildIptablesPayload(defaultCaptureSettings(), 4).split('\n');
    const dns = rules.indexOf('-A DETOUR_OUTPUT -p udp --dport 53 -j REDIRECT --to-ports 15053');
    expect(dns).to.be.greaterThan(-1);
    expect(dns).to.be.lessThan(rules.indexOf('-A DETOUR_OUTPUT -o lo -j RETURN'));
  });

  it('captures inbound in PREROUTING only, one REDIRECT per app port, in both families', () => {
    const settings = { ...defaultCaptureSettings(), inbound: assignListeners([8080, 9090]) };
    for (const family of [4, 6] as const) {
      const rules = buildIptablesPayload(settings, family).split('\n');
      expect(rules.filter((r) => r.startsWith('-A DETOUR_INBOUND'))).to.deep.equal([
        '-A DETOUR_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15100',
        '-A DETOUR_INBOUND -p tcp --dport 9090 -j REDIRECT --to-ports 15101',
      ]);
      expect(
        rules.filter((r) => r.includes('DETOUR_INBOUND') && /^-A (?!DETOUR_)/.test(r)),
      ).to.deep.equal([INBOUND_JUMP]);
    }
    // Without inbound ports the payload has no trace of the inbound chain.
    expect(buildIptablesPayload(defaultCaptureSettings(), 4)).not.to.include('DETOUR_INBOUND');
  });

  it('keeps the VIP range and DNS out of the IPv6 payload', () => {
    const v6 = buildIptablesPayload(defaultCaptureSettings(), 6);
    expect(v6).not.to.include('240.240.0.0/16');
    expect(v6).not.to.include('--dport 53');
  });
});

describe('multiport groups', () => {
  it('keeps each rule within 15 ports, a range counting as two', () => {
    const ranges = Array.from({ length: 40 }, (_, i) =>
      i % 3 === 0
        ? { from: 1000 + i * 10, to: 1005 + i * 10 }
        : { from: 1000 + i * 10, to: 1000 + i * 10 },
    );
    const groups = multiportGroups(ranges);
    expect(groups.length).to.be.greaterThan(1);
    for (const group of groups) {
      const cost = group.split(',').reduce((n, item) => n + (item.includes(':') ? 2 : 1), 0);
      expect(cost).to.be.at.most(15);
    }
    expect(groups.join(',').split(',')).to.have.length(40);
  });

  it('fills a group to exactly 15', () => {
    const ranges = Array.from({ length: 16 }, (_, i) => ({ from: i + 1, to: i + 1 }));
    expect(multiportGroups(ranges)).to.deep.equal(['1,2,3,4,5,6,7,8,9,10,11,12,13,14,15', '16']);
  });
});

describe('re-running init', () => {
  it('drops the OUTPUT jump when iptables-save already shows it, keeping line numbers', () => {
    const payload = buildIptablesPayload(defaultCaptureSettings(), 4);
    const save = `*nat\n:OUTPUT ACCEPT [0:0]\n${OUTPUT_JUMP}\nCOMMIT\n`;
    const again = withoutExistingJump(payload, save);
    expect(again.split('\n')).not.to.include(OUTPUT_JUMP);
    expect(again.split('\n')).to.have.length(payload.split('\n').length);
    expect(withoutExistingJump(payload, '*nat\nCOMMIT\n')).to.equal(payload);
  });

  it('drops each installed jump on its own (OUTPUT and PREROUTING)', () => {
    const settings = { ...defaultCaptureSettings(), inbound: assignListeners([8080]) };
    const payload = buildIptablesPayload(settings, 4);
    const onlyOutput = withoutExistingJump(payload, `*nat\n${OUTPUT_JUMP}\nCOMMIT\n`).split('\n');
    expect(onlyOutput).not.to.include(OUTPUT_JUMP);
    expect(onlyOutput).to.include(INBOUND_JUMP);
    const both = withoutExistingJump(payload, `*nat\n${OUTPUT_JUMP}\n${INBOUND_JUMP}\nCOMMIT\n`);
    expect(both.split('\n')).not.to.include(INBOUND_JUMP);
    expect(both).to.include(`# already installed: ${INBOUND_JUMP}`);
  });
});

describe('detour init flags', () => {
  const bad: [string[], string][] = [
    [['--capture-ports', '80;443'], '--capture-ports'],
    [['--exclude-outbound-cidrs', '198.18.0.0/33'], '--exclude-outbound-cidrs'],
    [['--dns-capture', 'yes'], '--dns-capture'],
    [['--proxy-uid', '-1'], '--proxy-uid'],
    [['--vip-cidr', 'fd00::/8'], '--vip-cidr'],
    [['--outbound-port', '70000'], '--outbound-port'],
    [['--iptables-mode', 'ebpf'], '--iptables-mode'],
    [['--inbound', '8080'], '--inbound'],
    [['--inbound', '15001=15100'], '--inbound'],
    [['--inbound', '8080=15100,8080=15101'], '--inbound'],
    [['--inbound', '8080=15100,9090=15100'], '--inbound'],
    [['--inbound', '8080=70000'], '--inbound'],
    [['--no-such-flag'], '--no-such-flag'],
  ];
  for (const [args, flag] of bad) {
    it(`refuses ${args.join(' ')} naming ${flag}`, () => {
      try {
        parseInitFlags(args);
        expect.fail('no error');
      } catch (err) {
        expect(isDetourError(err) && err.code).to.equal('DETOUR_E_BAD_FLAG');
        expect((err as Error).message).to.include(flag);
      }
    });
  }
});
