import https from 'node:https';
import { TLSSocket } from 'node:tls';
import { serviceDnsNames } from '../../webhook/certificates.js';

/** The name the API server dials for the Service (and verifies the certificate against). */
export const WEBHOOK_SERVERNAME = serviceDnsNames('detour-system')[2]!;

export interface WebhookReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The serving certificate's SHA-256 fingerprint, to tell reloaded certificates apart. */
  fingerprint: string;
}

/** One HTTPS request to a webhook on loopback that must verify against `ca`. */
export function webhookRequest(
  port: number,
  ca: string,
  options: {
    method?: string;
    path?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
): Promise<WebhookReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        ca,
        servername: WEBHOOK_SERVERNAME,
        headers: options.headers ?? {},
        agent: false,
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket;
        const fingerprint =
          socket instanceof TLSSocket ? socket.getPeerCertificate().fingerprint256 : '';
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            fingerprint,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

export function postReview(port: number, ca: string, review: unknown): Promise<WebhookReply> {
  return webhookRequest(port, ca, {
    method: 'POST',
    path: '/mutate',
    body: JSON.stringify(review),
    headers: { 'content-type': 'application/json' },
  });
}
