import { createHash, scrypt, scryptSync } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { BoundedCache } from './bounded-cache.js';
import type { ApiKeyHash } from './route-table-resource.js';

/**
 * API keys as RouteTables carry them: a salted scrypt hash per accepted header value
 * (docs/adr/0007-api-key-hash.md). RouteTables are readable by every ServiceAccount, so
 * an unsalted fast digest lets anyone test guesses offline at GPU speed; scrypt
 * (RFC 7914, https://www.rfc-editor.org/rfc/rfc7914) makes each guess cost memory and
 * time, and the per-Secret salt makes every guess specific to one Secret.
 *
 * The parameters travel in the object, so they can be raised later without breaking
 * tables already written: a proxy verifies with what each entry says.
 *
 * N = 2^14, r = 8: 16 MiB and tens of milliseconds per guess. The floor of OWASP's
 * scrypt row (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#scrypt)
 * is N = 2^17 (128 MiB per verification); a sidecar idles at about 80 MB and verifies
 * new keys on the request path (two at a time: 32 MiB more at peak), so detour takes the
 * cost that fits there. Keys are machine-made: use long random ones.
 */
export const SCRYPT_PARAMS = { n: 2 ** 14, r: 8, p: 1 } as const;
export const HASH_BYTES = 32;
const SALT_BYTES = 16;
/** Node refuses scrypt above its default maxmem (32 MiB); allow 128 * N * r * 2 for larger N. */
export function scryptMaxmem(n: number, r: number): number {
  return 256 * n * r;
}

/**
 * The accepted header values of the Secret's field: the `.data` string (base64, what the
 * seed's nginx compared) and the plain value. A Secret written in YAML may hold the key
 * in `stringData` (the plain value, merged over `data` as the API server does on write:
 * https://kubernetes.io/docs/concepts/configuration/secret/#restriction-names-data).
 * [] when the Secret or field is absent (no key needed); an empty value is still a key.
 */
export function apiKeyValues(secret: V1Secret | undefined, field: string): string[] {
  const plainValue = secret?.stringData?.[field];
  if (plainValue !== undefined) {
    return unique([Buffer.from(plainValue, 'utf8').toString('base64'), plainValue]);
  }
  const dataString = secret?.data?.[field];
  if (dataString === undefined) return [];
  const values = [dataString];
  if (isBase64(dataString)) values.push(Buffer.from(dataString, 'base64').toString('utf8'));
  return unique(values);
}

/**
 * The salt of one Secret's field: deterministic, because two controller replicas
 * without a leader must write identical tables (and a recompile must not rewrite every
 * table), and unique per Secret object (namespace, name, uid: a re-created Secret gets a
 * new uid) and field. A salt needs to be unique, not secret.
 */
export function secretSalt(secret: V1Secret, field: string): Buffer {
  const metadata = secret.metadata;
  const identity = [metadata?.namespace ?? '', metadata?.name ?? '', metadata?.uid ?? ''];
  return createHash('sha256')
    .update(['detour.dev/api-key-salt/v1', ...identity, field].join('\0'))
    .digest()
    .subarray(0, SALT_BYTES);
}

/**
 * scrypt with a bounded memo: the controller recompiles on every pod event and must not
 * pay tens of milliseconds per Secret each time. The memo key holds the value, the salt
 * and the parameters, so a changed key or salt is hashed afresh. `prepare` fills the memo
 * with the asynchronous scrypt (libuv's thread pool, in parallel, off the event loop)
 * before the synchronous compile reads it; `hash` computes what is missing synchronously
 * (the file source, tests).
 */
export class ApiKeyHasher {
  readonly #memo: BoundedCache<string, ApiKeyHash>;

  constructor(maxEntries = 4096) {
    this.#memo = new BoundedCache(maxEntries);
  }

  /** Hashes memoized (at most `maxEntries`). */
  get size(): number {
    return this.#memo.size;
  }

  hash(value: string, salt: Buffer): ApiKeyHash {
    const key = memoKey(value, salt);
    const known = this.#memo.get(key);
    if (known !== undefined) return known;
    const { n, r, p } = SCRYPT_PARAMS;
    const derived = scryptSync(value, salt, HASH_BYTES, {
      N: n,
      r,
      p,
      maxmem: scryptMaxmem(n, r),
    });
    const hash = toHash(salt, derived);
    this.#memo.set(key, hash);
    return hash;
  }

  /** Hashes every (value, salt) not memoized yet, concurrently on the thread pool. */
  async prepare(inputs: readonly { value: string; salt: Buffer }[]): Promise<void> {
    await Promise.all(
      inputs
        .filter(({ value, salt }) => this.#memo.get(memoKey(value, salt)) === undefined)
        .map(async ({ value, salt }) => {
          const derived = await scryptAsync(value, salt);
          this.#memo.set(memoKey(value, salt), toHash(salt, derived));
        }),
    );
  }
}

/** The hashes of a Secret's accepted values, in apiKeyValues order. */
export function apiKeyHashes(
  secret: V1Secret | undefined,
  field: string,
  hasher: ApiKeyHasher,
): ApiKeyHash[] {
  if (secret === undefined) return [];
  const salt = secretSalt(secret, field);
  return apiKeyValues(secret, field).map((value) => hasher.hash(value, salt));
}

/** scrypt on libuv's thread pool (never on the event loop), with the given parameters. */
export function scryptAsync(
  value: string,
  salt: Buffer,
  params: { n: number; r: number; p: number } = SCRYPT_PARAMS,
  bytes = HASH_BYTES,
): Promise<Buffer> {
  const { n, r, p } = params;
  return new Promise((resolve, reject) => {
    scrypt(value, salt, bytes, { N: n, r, p, maxmem: scryptMaxmem(n, r) }, (err, key) => {
      if (err === null) resolve(key);
      else reject(err);
    });
  });
}

function toHash(salt: Buffer, derived: Buffer): ApiKeyHash {
  return {
    algorithm: 'scrypt',
    ...SCRYPT_PARAMS,
    salt: salt.toString('base64'),
    hash: derived.toString('base64'),
  };
}

function memoKey(value: string, salt: Buffer): string {
  const { n, r, p } = SCRYPT_PARAMS;
  return `${String(n)},${String(r)},${String(p)}\0${salt.toString('base64')}\0${value}`;
}

// https://www.rfc-editor.org/rfc/rfc4648#section-4 (the API server only stores this form)
function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
