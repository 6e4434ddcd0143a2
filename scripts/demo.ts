/**
 * `npm run demo`: the seed's example end to end on one machine, no cluster needed.
 *
 * It narrates what a user of a real cluster would do and see:
 *   1. `detour inject` adds the init container and the sidecar to my-other-application;
 *   2. two replicas of my-application serve /nodejs on their pod IPs;
 *   3. the sidecar routes from the seed's objects (manifests/examples/seed/cluster.yaml);
 *   4. the app's plain-hostname calls go through it: round robin, then 404;
 *   5. an API-key Secret is added to the objects file: the sidecar reloads and enforces it;
 *   6-7. what `kubectl logs ... -c detour-proxy` and `detour routes` would print;
 *   8. API management in the call: the example's api-manager (manifests/examples/
 *      api-management) starts, its ApiPolicy is added to the objects file, and the
 *      app's calls show an allowed call with the consumer reaching the app, a denied
 *      one with api-manager's own answer, and a 429 with its rate-limit fields;
 *   9. the sidecar drains on SIGTERM and everything is removed.
 *
 * As root with iptables and iproute2 the pods are network namespaces and capture is real
 * (demo/netns-stage.ts: `detour init` rules, DNS VIPs, curl with no proxy settings);
 * otherwise, or with `--proxy-env`, it says why and uses proxy-env mode on loopback
 * (demo/loopback-stage.ts), the mode detour offers where NET_ADMIN is forbidden. It exits
 * 0 only after cleaning up; a failure anywhere still cleans up and exits 1.
 */
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runDetour } from '../test/support/cli.js';
import {
  SEED_DIR,
  SEED_HOST,
  parseInjectedPod,
  routingSecretYaml,
  type InjectedPod,
} from '../test/support/seed-example.js';
import { LoopbackStage } from './demo/loopback-stage.js';
import { NetnsStage, captureUnavailable } from './demo/netns-stage.js';
import { API_MANAGER_SCRIPT, waitUntil, type DemoStage, type HttpReply } from './demo/stage.js';

const APP_URL = `http://${SEED_HOST}/nodejs`;
const API_KEY = 'supersecret';
/** The app's calls in steps 4 and 5: four to /nodejs/hello, one 404, then 403 and 200. */
const CALLS = 7;
const API_KEY_HEADER = `X-ROUTING-API-KEY: ${Buffer.from(API_KEY).toString('base64')}`;
/** The example's consumer keys (its secretGenerator) and its ApiPolicy. */
const CONSUMERS = { 'demo-key-alice': 'alice', 'demo-key-bob': 'bob' };
const EXAMPLE_DIR = 'manifests/examples/api-management';
const EXAMPLE_CHECK_URL = 'http://api-manager.apim.svc.cluster.local:8080/check';
/** The example's rateLimit.requests: the call after that many allowed ones gets a 429. */
const RATE = 5;

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

function step(n: number, title: string): void {
  process.stdout.write(`\n${bold(`── ${n}. ${title}`)}\n`);
}
function say(...lines: string[]): void {
  for (const line of lines) process.stdout.write(`${line}\n`);
}
function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}

/** Runs `detour ARGS` to completion and returns stdout (throws with stderr on failure). */
async function detour(args: string[]): Promise<string> {
  const r = await runDetour(args, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new Error(`detour ${args.join(' ')} failed (exit ${r.code ?? 'signal'}):\n${r.stderr}`);
  }
  return r.stdout;
}

/** Makes the app's call and narrates it as `$ COMMAND -> STATUS BODY`. */
async function appCall(stage: DemoStage, url: string, headers: string[] = []): Promise<HttpReply> {
  const reply = await stage.call(url, headers);
  say(`$ ${stage.callCommand(url, headers)}`, `   -> ${reply.status} ${reply.body}`);
  return reply;
}

/** Step 1: the injected manifest, shown as a diff; returns the containers it adds. */
async function showInjection(work: string): Promise<InjectedPod> {
  say('$ detour inject -f manifests/examples/seed/my-other-application.yaml');
  const original = join(SEED_DIR, 'my-other-application.yaml');
  const injected = await detour(['inject', '-f', original]);
  const injectedFile = join(work, 'my-other-application.injected.yaml');
  writeFileSync(injectedFile, injected);
  const diff = spawnSync('diff', ['-u', original, injectedFile], { encoding: 'utf8' });
  say(indent(diff.stdout === '' ? injected : diff.stdout.split('\n').slice(2).join('\n')));
  return parseInjectedPod(injected);
}

/** Chooses the stage: real capture as root with iptables, unless --proxy-env. */
function chooseStage(argv: string[]): DemoStage {
  const unavailable = argv.includes('--proxy-env')
    ? 'asked for with --proxy-env'
    : captureUnavailable();
  if (unavailable === undefined) {
    say(dim('mode: real capture (root with iptables): each pod a network namespace'));
    return new NetnsStage();
  }
  say(
    dim(`mode: proxy-env on loopback (${unavailable}); this is the capture mode for clusters`),
    dim('      that forbid NET_ADMIN: no iptables, the app honours HTTP_PROXY'),
  );
  return new LoopbackStage();
}

async function narrate(stage: DemoStage, work: string): Promise<void> {
  step(1, 'detour inject: what the webhook adds to my-other-application');
  const pod = await showInjection(work);

  step(2, 'two replicas of my-application serve /nodejs on their pod IPs');
  say(...(await stage.startReplicas()).map((l) => `   ${l}`));

  step(3, "my-other-application's sidecar routes from the cluster objects (the file source)");
  const objects = join(work, 'cluster.yaml');
  writeFileSync(objects, stage.clusterYaml(), { mode: 0o644 });
  say(...(await stage.startSidecar(pod, objects)));

  step(4, "the app's plain-hostname calls (no Kubernetes client, no proxy code)");
  const vip = await stage.lookup(SEED_HOST);
  if (vip !== undefined) {
    say(`$ getent hosts ${SEED_HOST}`, `   -> ${vip}`);
    say(dim("   (the sidecar's DNS answered a virtual IP; iptables sends its TCP to the sidecar)"));
    if (!vip.startsWith('240.240.')) throw new Error(`expected a 240.240.x VIP, got ${vip}`);
  }
  for (let i = 0; i < 4; i++) await appCall(stage, `${APP_URL}/hello`);
  const notFound = await appCall(stage, `http://${SEED_HOST}/python`);
  if (notFound.status !== 404) throw new Error(`expected 404 for /python, got ${notFound.status}`);
  say(dim('   (known host, unknown path: 404, as the seed router answered)'));

  step(5, 'an API key for my-namespace: add the routing Secret, the proxy reloads');
  say(
    `$ kubectl create secret generic routing --from-literal=private-api-key=${API_KEY} -n my-namespace`,
  );
  appendFileSync(objects, routingSecretYaml(API_KEY));
  await waitUntil('the sidecar to load the Secret', async () =>
    /"apiKeyRequired":\s*true/.test(await stage.routes(['--json'])),
  );
  const denied = await appCall(stage, `${APP_URL}/hello`);
  if (denied.status !== 403) throw new Error(`expected 403 without the key, got ${denied.status}`);
  const allowed = await appCall(stage, `${APP_URL}/hello`, [API_KEY_HEADER]);
  if (allowed.status !== 200) throw new Error(`expected 200 with the key, got ${allowed.status}`);

  step(6, 'kubectl logs my-other-application -c detour-proxy (the access log)');
  const accessLog = (): string[] => stage.sidecarLog().filter((l) => l.includes('"msg":"request"'));
  // The sidecar batches its access-log writes: wait for the line of each call made above.
  await waitUntil('an access-log line per call', () => accessLog().length >= CALLS);
  say(...accessLog().map((line) => `   ${line}`));

  step(7, 'detour routes: the table, and why a URL goes where it goes');
  say(`$ ${stage.routesCommand}`, indent(await stage.routes([])));
  say(`$ ${stage.routesCommand} --explain ${APP_URL}/hello`);
  say(indent(await stage.routes(['--explain', `${APP_URL}/hello`])));

  await showApiManagement(stage, objects);

  step(9, 'clean up');
  const code = await stage.stopSidecar();
  say(`   the sidecar drained on SIGTERM and exited with code ${code ?? 'signal'}`);
  if (code !== 0) throw new Error(`the sidecar exited with ${code ?? 'a signal'} on SIGTERM`);
}

/** Step 8: the API-management example, on the route the earlier steps set up. */
async function showApiManagement(stage: DemoStage, objects: string): Promise<void> {
  step(8, 'API management in the call: an ApiPolicy sends /nodejs through api-manager');
  say(`$ kubectl apply -k ${EXAMPLE_DIR}`, dim(`   (here: node ${API_MANAGER_SCRIPT})`));
  const manager = await stage.startApiManager(CONSUMERS);
  say(...manager.lines.map((l) => `   ${l}`));
  const policy = readFileSync(`${REPO_ROOT}${EXAMPLE_DIR}/api-policy.yaml`, 'utf8');
  appendFileSync(objects, `\n---\n${policy.split(EXAMPLE_CHECK_URL).join(manager.checkUrl)}`);
  say(
    dim(`   (its forwardAuth.url ${EXAMPLE_CHECK_URL} is ${manager.checkUrl} here;`),
    dim('    the ApiPolicy goes into the objects file, and the sidecar reloads it)'),
  );
  const url = `${APP_URL}/hello`;
  let explained = '';
  await waitUntil('the sidecar to load the ApiPolicy', async () => {
    explained = await stage.routes(['--explain', url]);
    return explained.includes('ApiPolicy my-namespace/my-application-consumers applies');
  });
  say(`$ ${stage.routesCommand} --explain ${url}`);
  const steps = explained
    .split('\n')
    .filter((l) => /ApiPolicy|^ {2}- {3}/.test(l))
    .map((l) => l.trim());
  say(indent(steps.join('\n')));

  const alice = [API_KEY_HEADER, 'x-api-key: demo-key-alice'];
  const allowed = await appCall(stage, url, alice);
  const echo = JSON.parse(allowed.body) as { consumer?: string };
  if (allowed.status !== 200 || echo.consumer !== 'alice') {
    throw new Error(`expected 200 with consumer alice, got ${allowed.status} ${allowed.body}`);
  }
  say(
    dim('   (api-manager answered 2xx with x-consumer-id: alice, which detour copied onto the'),
    dim("    call; x-api-key was removed before my-application; the response carries the policy's"),
    dim(`    header x-api-managed-by: ${allowed.headers['x-api-managed-by'] ?? '(missing)'})`),
  );
  const denied = await appCall(stage, url, [API_KEY_HEADER, 'x-api-key: stolen-key']);
  if (denied.status !== 403 || !denied.body.includes('unknown_api_key')) {
    throw new Error(`expected api-manager's 403, got ${denied.status} ${denied.body}`);
  }
  say(dim("   (api-manager's own refusal, relayed as it is: status, body and headers)"));

  say(dim(`   alice again: the policy allows ${RATE} calls per minute per consumer`));
  let limited: HttpReply | undefined;
  for (let i = 0; i < RATE + 2 && limited === undefined; i++) {
    const reply = await appCall(stage, url, alice);
    if (reply.status === 429) limited = reply;
    else if (reply.status !== 200) throw new Error(`expected 200 or 429, got ${reply.status}`);
  }
  if (limited === undefined) throw new Error(`no 429 after ${RATE + 2} calls`);
  for (const name of ['retry-after', 'ratelimit', 'ratelimit-policy']) {
    const value = limited.headers[name];
    if (value === undefined) throw new Error(`the 429 has no ${name} header`);
    say(`      ${name}: ${value}`);
  }

  say('$ kubectl logs -n apim deploy/api-manager', ...manager.log().map((l) => `   ${l}`));
  say(dim('   (forwardAuth runs before the rate limit, so api-manager also saw the refused call)'));
}

async function main(argv: string[]): Promise<number> {
  say(bold('detour demo: the seed example, end to end, on this machine'));
  say(dim(`my-other-application calls ${APP_URL}/hello by plain hostname;`));
  say(dim('its sidecar routes the call to a ready my-application pod. No cluster needed.'));
  const work = mkdtempSync(join(tmpdir(), 'detour-demo-'));
  chmodSync(work, 0o755); // the sidecar (UID 1337 with real capture) reads cluster.yaml
  let stage: DemoStage | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleaning ??= (async () => {
      const lines = (await stage?.cleanup()) ?? [];
      rmSync(work, { recursive: true, force: true });
      say(...lines.map((l) => `   ${l}`), `   removed ${work}`);
    })());
  const interrupted = (signal: NodeJS.Signals): void => {
    process.stderr.write(`demo interrupted (${signal}): cleaning up\n`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    stage = chooseStage(argv);
    await narrate(stage, work);
    await cleanUp();
    say(bold('\ndone: everything the demo started has stopped.'));
    return 0;
  } catch (err) {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanUp().catch((cleanupErr: unknown) => {
      process.stderr.write(`clean-up failed too: ${String(cleanupErr)}\n`);
    });
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
