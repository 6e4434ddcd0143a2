import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSelfSignedBundle, serviceDnsNames } from '../../webhook/certificates.js';
import { runDetour } from '../support/cli.js';
import { postReview, webhookRequest } from '../support/webhook-client.js';
import { startWebhookProcess } from '../support/webhook-process.js';
import { podCreateRequest, decodePatch } from '../support/admission.js';

describe('detour webhook command', function () {
  this.timeout(60_000);

  it('prints its flags and environment on --help', async () => {
    const r = await runDetour(['webhook', '--help']);
    expect(r.code).to.equal(0);
    for (const word of ['--tls-cert', '--mwc-name', '--kubeconfig', 'DETOUR_PROXY_IMAGE']) {
      expect(r.stdout).to.contain(word);
    }
  });

  it('refuses --tls-cert without --tls-key, and bad knobs, naming them', async () => {
    const half = await runDetour(['webhook', '--tls-cert', '/tmp/x.crt']);
    expect(half.code).to.equal(1);
    expect(half.stderr).to.contain('DETOUR_E_BAD_FLAG').and.contain('--tls-key');
    const knob = await runDetour(['webhook', '--port', '0'], { env: { DETOUR_PROXY_UID: 'root' } });
    expect(knob.code).to.equal(1);
    expect(knob.stderr).to.contain('DETOUR_E_BAD_KNOB').and.contain('DETOUR_PROXY_UID');
    const files = await runDetour([
      'webhook',
      '--tls-cert',
      '/nonexistent.crt',
      '--tls-key',
      '/nonexistent.key',
    ]);
    expect(files.code).to.equal(1);
    expect(files.stderr).to.contain('DETOUR_E_TLS');
  });

  it('serves the given certificate files and injects with the configured image', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-webhook-cmd-'));
    const bundle = await createSelfSignedBundle({ dnsNames: serviceDnsNames('detour-system') });
    fs.writeFileSync(path.join(dir, 'tls.crt'), bundle.certPem);
    fs.writeFileSync(path.join(dir, 'tls.key'), bundle.keyPem);
    const webhook = await startWebhookProcess(
      [
        '--tls-cert',
        path.join(dir, 'tls.crt'),
        '--tls-key',
        path.join(dir, 'tls.key'),
        '--image',
        'registry.test/detour:9',
      ],
      { DETOUR_PROXY_MEMORY_LIMIT: '200Mi' },
    );
    try {
      expect(
        (await webhookRequest(webhook.port, bundle.caPem, { path: '/healthz' })).status,
      ).to.equal(200);
      const pod = {
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      };
      const r = await postReview(webhook.port, bundle.caPem, {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: podCreateRequest(pod),
      });
      const patch = decodePatch(
        (JSON.parse(r.text) as { response: { patch: string } }).response.patch,
      );
      const added = JSON.stringify(patch);
      expect(added).to.contain('registry.test/detour:9').and.contain('"memory":"200Mi"');
      const logged = await webhook.waitForLog('admission');
      expect(logged.result).to.equal('injected');
    } finally {
      expect(await webhook.stop()).to.equal(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
