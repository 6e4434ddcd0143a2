import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { REPO_ROOT } from '../support/cli.js';
import { netnsUnavailable } from '../support/netns.js';
import { SEED_REPLICAS } from '../support/seed-example.js';

/**
 * `npm run demo`, run as the README says, in both of its modes: real capture in network
 * namespaces (as root with iptables) and proxy-env mode on loopback (`-- --proxy-env`, or
 * wherever capture is unavailable). Each run must narrate the seed example's outcomes,
 * exit 0, and leave nothing behind: no network namespace, no temporary directory, no
 * process still holding its ports or files.
 */
interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run demo -- ARGS`. Under a lock: proxy-env mode takes fixed loopback ports
 * (the narration shows them), and other test runs on this machine may run the demo too.
 */
function runDemo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const npm = ['npm', 'run', 'demo', ...(args.length > 0 ? ['--', ...args] : [])];
    const child = spawn('flock', ['-w', '120', '/tmp/detour-demo.lock', ...npm], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // npm passes SIGTERM on to the demo, which cleans up before exiting.
    const timer = setTimeout(() => child.kill('SIGTERM'), 150_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The lines after the `── N.` heading up to the next heading. */
function section(stdout: string, n: number): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`── ${n}.`));
  expect(start, `section ${n} in:\n${stdout}`).to.be.at.least(0);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('── '));
  return end === -1 ? rest : rest.slice(0, end);
}

/** The statuses of the app's calls narrated in a section (`   -> STATUS BODY`). */
function statuses(lines: string[]): number[] {
  return lines.flatMap((l) => {
    const m = /^ {3}-> (\d{3}) /.exec(l);
    return m === null ? [] : [Number(m[1])];
  });
}

function workDir(stdout: string): string {
  const dir = /removed (\/\S*detour-demo-\S+)/.exec(stdout)?.[1];
  expect(dir, 'the demo names the directory it removed').to.be.a('string');
  return dir!;
}

/** PIDs of the processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Resolves true when `host:port` can be bound, i.e. nothing listens there any more. */
function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server: Server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, host, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

const LOOPBACK_ENDPOINTS = [
  ['127.0.0.1', 25000],
  ['127.0.0.1', 25001],
  ['127.0.0.1', 25053],
  ['127.0.0.11', 3000],
  ['127.0.0.12', 3000],
  ['127.0.0.1', 25080],
] as const;

/** The outcomes both modes must narrate, and the clean-up. */
function expectSeedStory(run: DemoRun): void {
  expect(run.code, `exit code; stderr:\n${run.stderr}\nstdout:\n${run.stdout}`).to.equal(0);
  const calls = section(run.stdout, 4);
  for (const pod of SEED_REPLICAS) {
    expect(
      calls.some((l) => l.startsWith(`   -> 200 {"pod":"${pod}"`)),
      `${pod} answered`,
    ).to.be.true;
  }
  expect(statuses(calls)).to.deep.equal([200, 200, 200, 200, 404]);
  const apiKey = section(run.stdout, 5);
  expect(statuses(apiKey)).to.deep.equal([403, 200]);
  expect(apiKey.some((l) => l.includes("-H 'X-ROUTING-API-KEY: "))).to.be.true;

  const log = section(run.stdout, 6)
    .filter((l) => l.startsWith('   {'))
    .map((l) => JSON.parse(l) as { status: number; host: string; msg: string });
  expect(log.map((l) => l.status)).to.deep.equal([200, 200, 200, 200, 404, 403, 200]);
  expect(log.every((l) => l.msg === 'request' && l.host === 'my-application.my-namespace')).to.be
    .true;

  const routes = section(run.stdout, 7).join('\n');
  expect(routes).to.match(/HOST\s+PATH\s+NAMESPACE\s+API KEY\s+ENFORCED AT\s+POLICY\s+ENDPOINTS/);
  expect(routes).to.match(/my-application\.my-namespace\s+\/nodejs\s+my-namespace\s+yes\s/);
  expect(routes).to.include('path /nodejs/hello matches route /nodejs');

  expectApiManagement(section(run.stdout, 8));

  const cleanUp = section(run.stdout, 9).join('\n');
  expect(cleanUp).to.include('the sidecar drained on SIGTERM and exited with code 0');
  expect(run.stdout).to.include('done: everything the demo started has stopped.');
  expectNothingLeft(run);
}

/**
 * Step 8: the API-management example's ApiPolicy in the call: allowed with the consumer
 * reaching the app (and its key not), api-manager's own refusal relayed, then a 429 with
 * its rate-limit fields once the per-consumer budget (5) is spent.
 */
function expectApiManagement(lines: string[]): void {
  const text = lines.join('\n');
  expect(text).to.include('ApiPolicy my-namespace/my-application-consumers applies');
  expect(statuses(lines)).to.deep.equal([200, 403, 200, 200, 200, 200, 429]);
  const allowed = lines.filter((l) => l.startsWith('   -> 200 '));
  expect(allowed.every((l) => l.includes('"consumer":"alice","apiManagerKey":null'))).to.be.true;
  expect(text).to.include('header x-api-managed-by: api-manager');
  expect(text).to.match(/-> 403 \{"error":"unknown_api_key"/);
  expect(text).to.match(/-> 429 \{"error":"DETOUR_E_RATE_LIMITED"/);
  expect(text).to.match(/\n {6}retry-after: \d+\n/);
  expect(text).to.include('ratelimit-policy: "my-namespace/my-application-consumers";q=5;w=60');
  const meter = lines
    .filter((l) => l.startsWith('   {"time"'))
    .map((l) => JSON.parse(l) as { decision: string; consumer?: string });
  expect(meter.map((m) => m.decision)).to.deep.equal([
    'allowed',
    'unknown-key',
    'allowed',
    'allowed',
    'allowed',
    'allowed',
    'allowed',
  ]);
}

/** The temporary directory gone, no process using it, the lab's namespaces deleted. */
function expectNothingLeft(run: DemoRun): void {
  const dir = workDir(run.stdout);
  expect(existsSync(dir), `${dir} removed`).to.be.false;
  expect(processesMentioning(dir), `processes still using ${dir}`).to.deep.equal([]);
  const lab = /network namespaces (detour-t-\d+-\d+)-\*/.exec(run.stdout)?.[1];
  if (lab === undefined) return; // proxy-env mode: no namespace
  expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.to.include(lab);
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  expect(etc.filter((d) => d.startsWith(lab))).to.deep.equal([]);
}

async function expectLoopbackFree(): Promise<void> {
  for (const [host, port] of LOOPBACK_ENDPOINTS) {
    expect(await canBind(host, port), `${host}:${port} free again`).to.be.true;
  }
}

describe('npm run demo (the README quickstart)', function () {
  this.timeout(180_000);

  it('runs with real capture in network namespaces as root, and removes them', async function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const run = await runDemo([]);
    expectSeedStory(run);
    expect(run.stdout).to.include('mode: real capture');
    // The plain hostname resolved to a VIP by the sidecar's DNS; curl had no proxy settings.
    expect(section(run.stdout, 4).join('\n')).to.match(/-> 240\.240\.\d+\.\d+\n/);
    expect(run.stdout).to.match(
      /\n\$ (curl |node -e "http\.get\(')http:\/\/my-application\.my-namespace\/nodejs\/hello/,
    );
    expect(run.stdout).not.to.include('http_proxy=');
    expect(section(run.stdout, 3).join('\n')).to.match(/-A DETOUR_\w+ .*REDIRECT --to-ports 15001/);
    expect(section(run.stdout, 7).join('\n')).to.include('198.18.0.11:3000');

    expect(run.stdout, 'the demo names its namespaces').to.match(/network namespaces detour-t-/);
  });

  it('runs in proxy-env mode on loopback with --proxy-env, and frees its ports', async () => {
    const run = await runDemo(['--proxy-env']);
    expectSeedStory(run);
    expect(run.stdout).to.include('mode: proxy-env on loopback (asked for with --proxy-env)');
    expect(run.stdout).to.match(
      /\n\$ http_proxy=http:\/\/127\.0\.0\.1:25001 (curl |node -e "http\.get\(')http:\/\/my-application\.my-namespace\/nodejs\/hello/,
    );
    expect(run.stdout).not.to.include('network namespaces');
    await expectLoopbackFree();
  });

  // A sidecar that refuses its configuration fails step 3, after the replicas started.
  for (const args of [[], ['--proxy-env']]) {
    it(`cleans up and exits 1 with the reason when a step fails (${args.join(' ') || 'default mode'})`, async () => {
      const run = await runDemo(args, { CLIENT_MAX_BODY_SIZE: 'not-a-size' });
      expect(run.code, run.stdout).to.equal(1);
      expect(run.stderr).to.match(/demo failed: the sidecar exited: .*DETOUR_E_BAD_KNOB/);
      expect(run.stdout).not.to.include('done:');
      expect(run.stdout).to.match(/stopped 2 replica\(s\)|deleted the network namespaces/);
      expectNothingLeft(run);
      await expectLoopbackFree();
    });
  }
});
