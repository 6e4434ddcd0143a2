import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSelfSignedBundle, serviceDnsNames } from '../../webhook/certificates.js';
import { podCreateRequest } from '../support/admission.js';
import { runDetour } from '../support/cli.js';
import { postReview, webhookRequest } from '../support/webhook-client.js';
import { startWebhookProcess } from '../support/webhook-process.js';

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
};

function review(): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: podCreateRequest(pod),
  };
}

/**
 * The real `detour webhook` process on SIGTERM: readiness fails at once, admission goes
 * on for --drain-ms (the Service drops the replica meanwhile), then it exits 0. Every
 * pod creation sent before it stopped listening was answered.
 */
describe('detour webhook drains on SIGTERM', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-drain-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails /ready first, keeps admitting for the grace period, then exits', async () => {
    const bundle = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
    const cert = path.join(dir, 'tls.crt');
    const key = path.join(dir, 'tls.key');
    fs.writeFileSync(cert, bundle.certPem);
    fs.writeFileSync(key, bundle.keyPem);
    const DRAIN_MS = 2_000;
    const webhook = await startWebhookProcess([
      '--tls-cert',
      cert,
      '--tls-key',
      key,
      '--drain-ms',
      String(DRAIN_MS),
    ]);
    const exited = new Promise<number | null>((resolve) => webhook.child.on('exit', resolve));
    try {
      expect(
        (await webhookRequest(webhook.port, bundle.caPem, { path: '/ready' })).status,
      ).to.equal(200);
      const started = Date.now();
      webhook.child.kill('SIGTERM');
      const draining = await webhook.waitForLog('draining', 10_000);
      expect(draining.drainMs).to.equal(DRAIN_MS);
      const ready = await webhookRequest(webhook.port, bundle.caPem, { path: '/ready' });
      expect(ready.status).to.equal(503);
      expect(ready.text).to.equal('draining\n');
      // Pod creations keep arriving (through API servers that have not seen the
      // EndpointSlice change yet) until the replica stops listening: all are answered.
      const answers: number[] = [];
      while (!webhook.logs.some((l) => l.msg === 'shutting down')) {
        const reply = await postReview(webhook.port, bundle.caPem, review());
        if (webhook.logs.some((l) => l.msg === 'shutting down')) break;
        answers.push(reply.status);
        expect(reply.text).to.contain('"patchType":"JSONPatch"');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(answers.length).to.be.above(5);
      expect(answers.every((s) => s === 200)).to.equal(true);
      expect(await exited).to.equal(0);
      expect(Date.now() - started).to.be.at.least(DRAIN_MS);
      const order = webhook.logs.map((l) => l.msg);
      expect(order.indexOf('draining')).to.be.below(order.indexOf('shutting down'));
    } finally {
      await webhook.stop();
    }
  });

  it('refuses a --drain-ms that is not a whole number, naming the flag', async () => {
    const r = await runDetour(['webhook', '--drain-ms', 'soon']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/flag --drain-ms: invalid value "soon"/);
  });
});
