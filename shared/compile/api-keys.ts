import type { V1Secret } from '@kubernetes/client-node';
import type { PlaneConfig } from '../plane-config.js';
import type { ApiKeyHash } from '../route-table-resource.js';
import { apiKeyHashes, apiKeyValues, secretSalt, type ApiKeyHasher } from '../api-key-hash.js';
import { latestByKey, namespaceOf } from './object-keys.js';

/**
 * The compiler's Secrets input kind: the Secret `apiKeySecretName` of a namespace, when
 * it holds `apiKeySecretField`, protects all the namespace's routes. Only salted scrypt
 * hashes leave this module (shared/api-key-hash.ts).
 */
export class NamespaceApiKeys {
  readonly #secrets: Map<string, V1Secret>;
  readonly #config: PlaneConfig;
  readonly #hasher: ApiKeyHasher;

  constructor(secrets: readonly V1Secret[], config: PlaneConfig, hasher: ApiKeyHasher) {
    this.#config = config;
    this.#hasher = hasher;
    this.#secrets = new Map(
      latestByKey(secrets)
        .filter((s) => s.metadata?.name === config.apiKeySecretName)
        .map((s) => [namespaceOf(s), s]),
    );
  }

  /** The namespaces that have the key Secret. */
  namespaces(): string[] {
    return [...this.#secrets.keys()];
  }

  /** [] when the namespace needs no key. */
  hashesOf(namespace: string): ApiKeyHash[] {
    return apiKeyHashes(this.#secrets.get(namespace), this.#config.apiKeySecretField, this.#hasher);
  }
}

/**
 * The value written to the deprecated `spec.apiKeySha256` beside real hashes: no key's
 * SHA-256 is all zeros, so a proxy of detour 0.1 refuses every key (fails closed) until
 * it is replaced, rather than routing unchecked (route-table-resource.ts).
 */
export const LEGACY_KEY_LOCK = '0'.repeat(64);

/** What `ApiKeyHasher.prepare` needs to hash the Secrets' keys ahead of a compile. */
export function apiKeyInputs(
  secrets: readonly V1Secret[],
  config: PlaneConfig,
): { value: string; salt: Buffer }[] {
  return latestByKey(secrets)
    .filter((s) => s.metadata?.name === config.apiKeySecretName)
    .flatMap((secret) => {
      const salt = secretSalt(secret, config.apiKeySecretField);
      return apiKeyValues(secret, config.apiKeySecretField).map((value) => ({ value, salt }));
    });
}
