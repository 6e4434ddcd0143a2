import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface TestCertificates {
  /** PEM of the CA that signed `cert` (what a kubeconfig's certificate-authority-data holds). */
  caPem: string;
  cert: string;
  key: string;
}

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  // Node's keygen is native and fast; node-forge's pure-JS one takes seconds.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function certificate(
  subjectCn: string,
  publicKey: forge.pki.PublicKey,
  signer: { key: forge.pki.rsa.PrivateKey; cert?: forge.pki.Certificate },
  extensions: object[],
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: subjectCn }]);
  cert.setIssuer(signer.cert?.subject.attributes ?? [{ name: 'commonName', value: subjectCn }]);
  cert.setExtensions(extensions);
  cert.sign(signer.key, forge.md.sha256.create());
  return cert;
}

/**
 * A CA and a serving certificate for `hosts` (DNS names and IP addresses), signed with
 * SHA-256, valid for a day. Tests verify the chain for real; nothing skips TLS checks.
 */
export function makeCertificates(
  hosts: readonly string[] = ['127.0.0.1', 'localhost'],
): TestCertificates {
  const ca = rsaKeys();
  const caCert = certificate('detour-test-ca', ca.publicKey, { key: ca.privateKey }, [
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true },
  ]);
  const leaf = rsaKeys();
  const altNames = hosts.map((h) =>
    /^[\d.]+$/.test(h) || h.includes(':') ? { type: 7, ip: h } : { type: 2, value: h },
  );
  const leafCert = certificate(
    hosts[0] ?? 'localhost',
    leaf.publicKey,
    { key: ca.privateKey, cert: caCert },
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  );
  return {
    caPem: forge.pki.certificateToPem(caCert),
    cert: forge.pki.certificateToPem(leafCert),
    key: forge.pki.privateKeyToPem(leaf.privateKey),
  };
}

let shared: TestCertificates | undefined;

/** One loopback certificate per test process: key generation is the slow part. */
export function loopbackCertificates(): TestCertificates {
  shared ??= makeCertificates();
  return shared;
}
