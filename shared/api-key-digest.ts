import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';

/**
 * The API key of a namespace, as the digests a RouteTable carries (RouteTables are
 * readable by every sidecar, so they never hold the key itself).
 *
 * The seed's nginx compared the header with the Secret's `.data` string, i.e. the base64
 * of the key, so clients in the wild send that; the plain value is what a newcomer would
 * send. Both are accepted: `[sha256hex(base64 string), sha256hex(plain value)]`.
 * A Secret written in YAML may hold the key in `stringData` (the plain value, merged
 * over `data` as the API server does on write:
 * https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data).
 *
 * Returns [] when the Secret or the field is absent: the namespace needs no key.
 * An empty value is still a key (it is present, as the seed treated it).
 */
export function apiKeyDigests(secret: V1Secret | undefined, field: string): string[] {
  const plainValue = secret?.stringData?.[field];
  if (plainValue !== undefined) {
    const dataString = Buffer.from(plainValue, 'utf8').toString('base64');
    return unique([sha256Hex(dataString), sha256Hex(plainValue)]);
  }
  const dataString = secret?.data?.[field];
  if (dataString === undefined) return [];
  const digests = [sha256Hex(dataString)];
  if (isBase64(dataString)) {
    digests.push(sha256Hex(Buffer.from(dataString, 'base64')));
  }
  return unique(digests);
}

export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

// https://www.rfc-editor.org/rfc/rfc4648#section-4 (the API server only stores this form)
function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
