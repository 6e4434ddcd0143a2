import { PassThrough, Duplex } from 'node:stream';
import tls from 'node:tls';
import { PortForward } from '@kubernetes/client-node';
import { errorMessage } from '../shared/errors.js';
import { fail, pass, type CheckLine } from './check-report.js';
import { REQUEST_TIMEOUT_MS, type ClusterReader } from './cluster-reader.js';
import { readyEndpoints } from './endpoint-slices.js';
import type { WebhookShape } from './install-checks.js';

const GROUP = 'webhook';

/**
 * A TLS handshake with one replica through a port-forward, verified as the API server
 * verifies it: against the caBundle, for the Service's name. The dry-run create reaches
 * one replica; with the self-signed default every replica has its own CA, so each one's
 * chain must be in the bundle.
 */
async function handshake(
  reader: ClusterReader,
  pod: { namespace: string; name: string },
  port: number,
  ca: string,
  servername: string,
): Promise<void> {
  const fromPod = new PassThrough();
  const toPod = new PassThrough();
  const ws = await new PortForward(reader.kc).portForward(
    pod.namespace,
    pod.name,
    [port],
    fromPod,
    null,
    toPod,
  );
  // The forwarded port as one stream for TLS: what the pod sends is read, what TLS
  // writes goes to the pod.
  const stream = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, callback) => {
      toPod.write(chunk);
      callback();
    },
  });
  fromPod.on('data', (chunk: Buffer) => stream.push(chunk));
  const socket = tls.connect({ socket: stream, ca, servername });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no TLS handshake in time'));
      }, REQUEST_TIMEOUT_MS);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    socket.destroy();
    (ws as { close(): void }).close();
  }
}

/** Every ready replica behind each webhook Service serves a chain the caBundle verifies. */
export async function checkReplicaCertificates(
  reader: ClusterReader,
  webhooks: readonly WebhookShape[],
): Promise<CheckLine[]> {
  const description = "every webhook replica's serving certificate verifies against the caBundle";
  const lines: CheckLine[] = [];
  const seen = new Set<string>();
  for (const w of webhooks) {
    const svc = w.clientConfig?.service;
    const ca = Buffer.from(w.clientConfig?.caBundle ?? '', 'base64').toString('utf8');
    const key = `${svc?.namespace ?? ''}/${svc?.name ?? ''}/${ca}`;
    if (svc === undefined || ca === '' || seen.has(key)) continue;
    seen.add(key);
    for (const { pod, port } of await readyEndpoints(reader, svc)) {
      if (pod === undefined || port === undefined) continue;
      try {
        await handshake(reader, pod, port, ca, `${svc.name}.${svc.namespace}.svc`);
      } catch (err) {
        lines.push(
          fail(GROUP, description, {
            detail: `${w.name}: ${errorMessage(err)}`,
            hint: "the replica's CA is not in the caBundle: restart it (it adds its CA at start), or check cert-manager's cainjector",
            culprit: `${pod.namespace}/${pod.name}`,
          }),
        );
      }
    }
  }
  return lines.length === 0 ? [pass(GROUP, description)] : lines;
}
