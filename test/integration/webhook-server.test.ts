import { expect } from 'chai';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import https from 'node:https';
import path from 'node:path';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { createLogger } from '../../shared/logger.js';
import { createRegistry } from '../../shared/metrics.js';
import {
  createSelfSignedBundle,
  serviceDnsNames,
  type CertificateBundle,
} from '../../webhook/certificates.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { applyPatch } from '../../webhook/pod-patch.js';
import type { Pod } from '../../webhook/pod-types.js';
import { readKeyPair, watchKeyPair } from '../../webhook/tls-files.js';
import { startWebhookServer, type RunningWebhook } from '../../webhook/webhook-server.js';
import { decodePatch, podCreateRequest } from '../support/admission.js';
import { anyValue, mutatedPod } from '../support/arbitraries.js';
import { startSelfSigned } from '../support/self-signed-webhook.js';
import { postReview, webhookRequest } from '../support/webhook-client.js';

const silent = createLogger({ level: 'silent' });

function review(request: unknown): unknown {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-', labels: { app: 'web' } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
};

describe('detour webhook over HTTPS (self-signed CA)', function () {
  this.timeout(60_000);
  let bundle: CertificateBundle;
  let webhook: RunningWebhook;

  before(async () => {
    ({ bundle, webhook } = await startSelfSigned());
  });
  after(() => webhook.close());

  it('answers /healthz, trusted through the generated CA for the Service name', async () => {
    const r = await webhookRequest(webhook.port, bundle.caPem, { path: '/healthz' });
    expect(r.status).to.equal(200);
    expect(r.text).to.equal('ok\n');
  });

  it('is not trusted by a client that does not know the CA', async () => {
    const other = await createSelfSignedBundle({ dnsNames: ['x'] });
    let error: unknown;
    try {
      await webhookRequest(webhook.port, other.caPem, { path: '/healthz' });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/certificate/i);
  });

  it('injects a real AdmissionReview; the returned patch applies and the pod validates', async () => {
    const request = podCreateRequest(pod, { namespace: 'shop' });
    const r = await postReview(webhook.port, bundle.caPem, review(request));
    expect(r.status).to.equal(200);
    const body = JSON.parse(r.text) as {
      apiVersion: string;
      kind: string;
      response: { uid: string; allowed: boolean; patchType: string; patch: string };
    };
    expect(body.apiVersion).to.equal('admission.k8s.io/v1');
    expect(body.kind).to.equal('AdmissionReview');
    expect(body.response.uid).to.equal(request.uid);
    expect(body.response.allowed).to.equal(true);
    expect(body.response.patchType).to.equal('JSONPatch');
    const injected = applyPatch(pod, decodePatch(body.response.patch));
    expect(injected.spec!.initContainers!.map((c) => c.name)).to.deep.equal([
      'detour-init',
      'detour-proxy',
    ]);
    new PodModel(injected as ConstructorParameters<typeof PodModel>[0]).validate();
  });

  it('gives a dry-run review the same patch', async () => {
    const real = await postReview(
      webhook.port,
      bundle.caPem,
      review(podCreateRequest(pod, { uid: 'same' })),
    );
    const dry = await postReview(
      webhook.port,
      bundle.caPem,
      review(podCreateRequest(pod, { uid: 'same', dryRun: true })),
    );
    expect(dry.text).to.equal(real.text);
  });

  it('refuses an invalid annotation with allowed:false naming it', async () => {
    const bad = {
      ...pod,
      metadata: { ...pod.metadata, annotations: { 'detour.dev/dns-capture': 'maybe' } },
    };
    const r = await postReview(webhook.port, bundle.caPem, review(podCreateRequest(bad)));
    expect(r.status).to.equal(200);
    const response = (
      JSON.parse(r.text) as { response: { allowed: boolean; status: { message: string } } }
    ).response;
    expect(response.allowed).to.equal(false);
    expect(response.status.message).to.contain('detour.dev/dns-capture').and.contain('"maybe"');
  });

  it('allows a non-Pod object unchanged', async () => {
    const request = {
      ...podCreateRequest(pod),
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } },
    };
    const r = await postReview(webhook.port, bundle.caPem, review(request));
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.text)).to.deep.equal({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: request.uid, allowed: true },
    });
  });

  it('answers 415 for a wrong Content-Type', async () => {
    const r = await webhookRequest(webhook.port, bundle.caPem, {
      method: 'POST',
      path: '/mutate',
      body: JSON.stringify(review(podCreateRequest(pod))),
      headers: { 'content-type': 'text/plain' },
    });
    expect(r.status).to.equal(415);
    expect(r.text).to.contain('application/json');
  });

  for (const [name, body] of [
    ['an empty body', ''],
    ['garbage', '{"apiVersion": admission'],
    ['JSON that is not a review', '{"kind":"Pod"}'],
    ['a review without request', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}'],
    ['a JSON array', '[]'],
  ] as const) {
    it(`answers 400 with a message for ${name}`, async () => {
      const r = await webhookRequest(webhook.port, bundle.caPem, {
        method: 'POST',
        path: '/mutate',
        body,
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).to.equal(400);
      expect((JSON.parse(r.text) as { error: string }).error).to.be.a('string').that.is.not.empty;
    });
  }

  it('refuses a body over the limit with 413', async () => {
    const huge = {
      ...pod,
      metadata: { ...pod.metadata, annotations: { big: 'x'.repeat(4 * 1024 * 1024) } },
    };
    const r = await postReview(webhook.port, bundle.caPem, review(podCreateRequest(huge)));
    expect(r.status).to.equal(413);
  });

  it('counts admissions by result and records latency on /metrics', async () => {
    const r = await webhookRequest(webhook.port, bundle.caPem, { path: '/metrics' });
    expect(r.status).to.equal(200);
    const count = (result: string): number =>
      Number(
        new RegExp(`detour_webhook_admissions_total\\{result="${result}"\\} (\\d+)`).exec(
          r.text,
        )?.[1],
      );
    expect(count('injected')).to.be.at.least(3);
    expect(count('refused')).to.equal(1);
    expect(count('skipped')).to.equal(1);
    expect(count('error')).to.equal(0);
    expect(r.text).to.match(
      /detour_webhook_admission_duration_seconds_count\{result="injected"\} \d+/,
    );
  });

  it('answers 404 for other paths', async () => {
    const r = await webhookRequest(webhook.port, bundle.caPem, { path: '/nope' });
    expect(r.status).to.equal(404);
  });
});

/** A review of creating a Pod whose object is `objectJson`, written as raw JSON text. */
function rawReview(uid: string, objectJson: string): string {
  return (
    `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${uid}",` +
    `"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},` +
    `"namespace":"shop","operation":"CREATE","object":${objectJson}}}`
  );
}

const container = (fields: string): string => `{"name":"web","image":"nginx"${fields}}`;
const podJson = (spec: string, metadata = '{"name":"web"}'): string =>
  `{"apiVersion":"v1","kind":"Pod","metadata":${metadata},"spec":${spec}}`;
/** A pod of one container with `fields` added to it, as JSON text. */
const withContainer = (fields: string, metadata?: string): string =>
  podJson(`{"containers":[${container(fields)}]}`, metadata);

describe('detour webhook refuses malformed pods over HTTPS, naming the field', function () {
  this.timeout(60_000);
  let bundle: CertificateBundle;
  let webhook: RunningWebhook;

  before(async () => {
    ({ bundle, webhook } = await startSelfSigned());
  });
  after(() => webhook.close());

  async function post(body: string): Promise<{ status: number; text: string }> {
    return webhookRequest(webhook.port, bundle.caPem, {
      method: 'POST',
      path: '/mutate',
      body,
      headers: { 'content-type': 'application/json' },
    });
  }

  const deep = (levels: number): string => `${'{"x":'.repeat(levels)}1${'}'.repeat(levels)}`;

  for (const [what, object, message] of [
    [
      'env items that are not objects',
      withContainer(',"env":[{"name":"A","value":"1"},"B=2"]'),
      'cannot read the pod: spec.containers[0].env[1]: expected an object, got "B=2"',
    ],
    [
      'an env name that is a number',
      withContainer(',"env":[{"name":5}]'),
      'cannot read the pod: spec.containers[0].env[0].name: expected a string, got 5',
    ],
    [
      'containers that are a string',
      podJson('{"containers":"oops"}'),
      'cannot read the pod: spec.containers: expected a list, got "oops"',
    ],
    [
      'a port of the wrong type',
      withContainer(',"ports":[{"containerPort":"80"}]'),
      'cannot read the pod: spec.containers[0].ports[0].containerPort: expected a number, got "80"',
    ],
    [
      'a probe of the wrong type',
      withContainer(',"readinessProbe":{"httpGet":{"port":{"n":1}}}'),
      'cannot read the pod: spec.containers[0].readinessProbe.httpGet.port: expected a port number or name, got an object',
    ],
    [
      'an annotation value that is not a string',
      withContainer('', '{"annotations":{"detour.dev/capture":true}}'),
      'cannot read the pod: metadata.annotations["detour.dev/capture"]: expected a string, got true',
    ],
    [
      'a deep nesting inside the pod',
      withContainer(`,"x":${deep(100)}`),
      `cannot read the pod: spec.containers[0].x${'.x'.repeat(60)}: nested deeper than 64 levels`,
    ],
    ['no object at all', 'null', 'cannot read the pod: expected an object, got null'],
  ] as const) {
    it(`answers 200, allowed:false, code 400 for ${what}`, async () => {
      const r = await post(rawReview('u-1', object));
      expect(r.status).to.equal(200);
      const response = (
        JSON.parse(r.text) as {
          response: { uid: string; allowed: boolean; status: { code: number; message: string } };
        }
      ).response;
      expect(response.uid).to.equal('u-1');
      expect(response.allowed).to.equal(false);
      expect(response.status.code).to.equal(400);
      expect(response.status.message).to.equal(message);
    });
  }

  for (const [what, spec] of [
    ['env: null', `{"containers":[${container(',"env":null')}]}`],
    ['initContainers: null', `{"containers":[${container('')}],"initContainers":null}`],
    ['volumes: null', `{"containers":[${container('')}],"volumes":null}`],
  ] as const) {
    it(`reads ${what} as absent, as the API server does, and injects`, async () => {
      const object = JSON.parse(podJson(spec)) as Pod;
      const r = await post(rawReview('u-2', podJson(spec)));
      expect(r.status).to.equal(200);
      const response = (JSON.parse(r.text) as { response: { allowed: boolean; patch: string } })
        .response;
      expect(response.allowed).to.equal(true);
      const injected = applyPatch(object, decodePatch(response.patch));
      expect(injected.spec!.initContainers!.map((c) => c.name)).to.deep.equal([
        'detour-init',
        'detour-proxy',
      ]);
    });
  }

  it('answers 400 before parsing a body nested deeper than 256 levels', async () => {
    const body = rawReview('u-3', '['.repeat(1_000_000));
    // The review and its request are two levels; the object's 255th bracket is level 257.
    const at = body.indexOf('[') + 254;
    const started = Date.now();
    const r = await post(body);
    expect(r.status).to.equal(400);
    expect((JSON.parse(r.text) as { error: string }).error).to.equal(
      `request body nests deeper than 256 levels (at byte ${at})`,
    );
    expect(Date.now() - started).to.be.below(5000);
  });

  it('answers any body with 200, 400 or 413 in bounded time, never 500 (property)', async () => {
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .oneof(
          anyValue,
          mutatedPod.map((m) => m.pod),
        )
        .map((o) => rawReview('u-p', JSON.stringify(o))),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const started = Date.now();
        const r = await post(text);
        expect(Date.now() - started).to.be.below(2000);
        expect([200, 400, 413], r.text).to.include(r.status);
        if (r.status === 200) {
          const { response } = JSON.parse(r.text) as {
            response: { allowed: boolean; status?: { code: number } };
          };
          if (!response.allowed) expect(response.status?.code).to.equal(400);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('counted none of them as an internal error', async () => {
    const r = await webhookRequest(webhook.port, bundle.caPem, { path: '/metrics' });
    const refused = /detour_webhook_admissions_total\{result="refused"\} (\d+)/.exec(r.text)?.[1];
    expect(Number(refused)).to.be.at.least(8);
    expect(r.text).to.not.match(/detour_webhook_admissions_total\{result="error"\} [1-9]/);
  });
});

describe('detour webhook TLS files', function () {
  this.timeout(60_000);
  let dir: string;
  let webhook: RunningWebhook | undefined;
  let stop: (() => void) | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-webhook-tls-'));
  });
  afterEach(async () => {
    stop?.();
    await webhook?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function writePair(bundle: CertificateBundle): Promise<void> {
    await fs.promises.writeFile(path.join(dir, 'tls.key'), bundle.keyPem);
    await fs.promises.writeFile(path.join(dir, 'tls.crt'), bundle.certPem);
  }

  it('serves a renewed certificate without a restart', async () => {
    const first = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
    const second = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
    await writePair(first);
    const files = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') };
    webhook = await startWebhookServer({
      port: 0,
      host: '127.0.0.1',
      tls: readKeyPair(files),
      config: defaultInjectorConfig(),
      logger: silent,
      registry: createRegistry(),
    });
    let reloads = 0;
    stop = watchKeyPair(webhook.server, files, {
      intervalMs: 50,
      logger: silent,
      onReload: () => (reloads += 1),
    });
    const before = await webhookRequest(webhook.port, first.caPem, { path: '/healthz' });
    expect(before.status).to.equal(200);

    // A half-written pair (new cert, old key) is refused and the old one kept.
    await fs.promises.writeFile(files.certFile, second.certPem);
    await new Promise((r) => setTimeout(r, 300));
    const halfway = await webhookRequest(webhook.port, first.caPem, { path: '/healthz' });
    expect(halfway.fingerprint, 'old certificate kept').to.equal(before.fingerprint);
    await fs.promises.writeFile(files.keyFile, second.keyPem);

    let after;
    for (let i = 0; i < 100; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        after = await webhookRequest(webhook.port, second.caPem, { path: '/healthz' });
        break;
      } catch {
        // still the old certificate
      }
    }
    expect(after?.status, 'new certificate served').to.equal(200);
    expect(after?.fingerprint).to.not.equal(before.fingerprint);
    expect(reloads).to.be.at.least(1);
  });

  it('refuses a key that does not match the certificate at start', async () => {
    const a = await createSelfSignedBundle({ dnsNames: ['a'] });
    const b = await createSelfSignedBundle({ dnsNames: ['b'] });
    await writePair({ ...a, keyPem: b.keyPem });
    expect(() =>
      readKeyPair({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') }),
    ).to.throw(/not a usable certificate and key/);
  });
});

describe('detour webhook shutdown', function () {
  this.timeout(60_000);

  it('finishes a request in flight before closing', async () => {
    const { bundle, webhook } = await startSelfSigned();
    const body = JSON.stringify(review(podCreateRequest(pod)));
    const state = { closed: false };
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: webhook.port,
          method: 'POST',
          path: '/mutate',
          ca: bundle.caPem,
          servername: serviceDnsNames('detour-system')[2],
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          agent: false,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, text });
          });
        },
      );
      req.on('error', reject);
      // Half the body now; the rest after shutdown has begun.
      req.write(body.slice(0, 100));
      setTimeout(() => {
        const closing = webhook.close(10_000).then(() => (state.closed = true));
        setTimeout(() => {
          expect(state.closed, 'close waits for the request').to.equal(false);
          req.end(body.slice(100));
        }, 300);
        void closing;
      }, 300);
    });
    const r = await answer;
    expect(r.status).to.equal(200);
    expect(r.text).to.contain('"patchType":"JSONPatch"');
    for (let i = 0; i < 50 && !state.closed; i += 1)
      await new Promise((res) => setTimeout(res, 100));
    expect(state.closed).to.equal(true);
    let refused: unknown;
    try {
      await webhookRequest(webhook.port, bundle.caPem, { path: '/healthz' });
    } catch (err) {
      refused = err;
    }
    expect(String(refused)).to.match(/ECONNREFUSED/);
  });
});
