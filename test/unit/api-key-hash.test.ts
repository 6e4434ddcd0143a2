import { expect } from 'chai';
import { scryptSync } from 'node:crypto';
import { ApiKeyHasher, SCRYPT_PARAMS, secretSalt } from '../../shared/api-key-hash.js';
import { apiKeySecret } from '../support/routable-pod.js';

describe('API-key hashing (salted scrypt)', () => {
  const salt = Buffer.from('0123456789abcdef');

  it('is RFC 7914 scrypt with the parameters it states', () => {
    const h = new ApiKeyHasher().hash('s3cret', salt);
    expect(h).to.include({ algorithm: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64') });
    const expected = scryptSync('s3cret', salt, 32, { N: h.n, r: h.r, p: h.p });
    expect(h.hash).to.equal(expected.toString('base64'));
  });

  it('memoizes: the same key and salt are hashed once; another key or salt afresh', () => {
    const hasher = new ApiKeyHasher();
    const first = hasher.hash('k', salt);
    expect(hasher.hash('k', salt)).to.equal(first); // the same object: no second scrypt
    expect(hasher.hash('k2', salt).hash).to.not.equal(first.hash);
    expect(hasher.hash('k', Buffer.from('fedcba9876543210')).hash).to.not.equal(first.hash);
    expect(hasher.size).to.equal(3);
  });

  it('keeps the memo within its bound, dropping the least recently used', () => {
    const hasher = new ApiKeyHasher(2);
    const a = hasher.hash('a', salt);
    hasher.hash('b', salt);
    expect(hasher.hash('a', salt)).to.equal(a); // a is now the most recent
    hasher.hash('c', salt); // evicts b
    expect(hasher.size).to.equal(2);
    expect(hasher.hash('a', salt)).to.equal(a);
  });

  it('prepare() fills the memo off the event loop, so hash() finds it', async () => {
    const hasher = new ApiKeyHasher();
    await hasher.prepare([
      { value: 'x', salt },
      { value: 'y', salt },
    ]);
    expect(hasher.size).to.equal(2);
    const started = performance.now();
    const x = hasher.hash('x', salt);
    expect(performance.now() - started).to.be.below(5); // a lookup, not a 16 MiB scrypt
    expect(x.hash).to.equal(new ApiKeyHasher().hash('x', salt).hash);
  });

  it('derives one salt per Secret: stable, and different for another namespace, name, uid or field', () => {
    const secret = (
      namespace: string,
      name: string,
      uid: string,
    ): ReturnType<typeof apiKeySecret> => {
      const s = apiKeySecret(namespace, { f: 'v' }, 'data', name);
      if (s.metadata !== undefined) s.metadata.uid = uid;
      return s;
    };
    const base = secretSalt(secret('ns', 'routing', 'u1'), 'f').toString('hex');
    expect(secretSalt(secret('ns', 'routing', 'u1'), 'f').toString('hex')).to.equal(base);
    for (const other of [
      secretSalt(secret('ns2', 'routing', 'u1'), 'f'),
      secretSalt(secret('ns', 'keys', 'u1'), 'f'),
      secretSalt(secret('ns', 'routing', 'u2'), 'f'),
      secretSalt(secret('ns', 'routing', 'u1'), 'g'),
    ]) {
      expect(other.toString('hex')).to.not.equal(base);
    }
    expect(Buffer.from(base, 'hex')).to.have.length(16);
  });
});
