import { ApiKeyHasher } from '../../shared/api-key-hash.js';
import type { ApiKeyHash } from '../../shared/route-table-resource.js';

const hasher = new ApiKeyHasher();

/** The hashes a RouteTable carries for these accepted header values (one salt, as per Secret). */
export function keyHashes(...values: string[]): ApiKeyHash[] {
  const salt = Buffer.from('test-salt-16-byt');
  return values.map((value) => hasher.hash(value, salt));
}
