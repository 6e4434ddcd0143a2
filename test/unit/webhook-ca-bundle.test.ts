import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { caBundlePatch, MAX_CAS, mergeCaBundle } from '../../webhook/ca-bundle.js';
import { createSelfSignedBundle } from '../../webhook/certificates.js';

const fingerprints = (base64: string): string[] =>
  (
    Buffer.from(base64, 'base64')
      .toString('utf8')
      .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  ).map((pem) => new X509Certificate(pem).fingerprint256);
const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;

describe('caBundle merging', function () {
  this.timeout(60_000);
  const day = 86_400_000;
  let cas: string[];

  before(async () => {
    // Issued on consecutive days, oldest first, valid for 10 days.
    const base = Date.UTC(2026, 0, 1);
    cas = [];
    for (let i = 0; i < MAX_CAS + 1; i += 1) {
      cas.push(
        (await createSelfSignedBundle({ dnsNames: ['a'], now: new Date(base + i * day), days: 10 }))
          .caPem,
      );
    }
  });

  const now = new Date(Date.UTC(2026, 0, 8));

  it('adds our CA to an empty bundle, and is idempotent', () => {
    const once = mergeCaBundle(undefined, cas[0]!, now);
    expect(fingerprints(once)).to.deep.equal([fp(cas[0]!)]);
    expect(mergeCaBundle(once, cas[0]!, now)).to.equal(once);
  });

  it('keeps the other replicas’ CAs, newest first, at most MAX_CAS', () => {
    let bundle: string | undefined;
    for (const ca of cas) bundle = mergeCaBundle(bundle, ca, now);
    const kept = fingerprints(bundle!);
    expect(kept).to.have.length(MAX_CAS);
    expect(kept[0]).to.equal(fp(cas[MAX_CAS]!));
    expect(kept).to.not.include(fp(cas[0]!));
  });

  it('drops expired CAs and garbage', () => {
    const later = new Date(Date.UTC(2026, 0, 11, 12));
    const junk = Buffer.from('not a certificate').toString('base64');
    const bundle = mergeCaBundle(mergeCaBundle(junk, cas[0]!, now), cas[3]!, later);
    expect(fingerprints(bundle)).to.deep.equal([fp(cas[3]!)]);
  });

  it('guards the patch with test operations and skips entries already up to date', () => {
    const current = mergeCaBundle(undefined, cas[1]!, now);
    const patch = caBundlePatch(
      {
        webhooks: [
          { name: 'a', clientConfig: {}, admissionReviewVersions: ['v1'], sideEffects: 'None' },
          {
            name: 'b',
            clientConfig: { caBundle: current },
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
          },
        ],
      },
      cas[1]!,
      now,
    );
    expect(patch).to.deep.equal([
      { op: 'test', path: '/webhooks/0/name', value: 'a' },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: current },
    ]);
  });
});
