import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../shared/error-codes.js';
import { REPO_ROOT } from '../support/cli.js';

/** Every .ts file of the shipped code (not tests, scripts or dependencies). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('the error registry (shared/error-codes.ts)', () => {
  const codes = Object.keys(ERROR_CODES);
  const text = ['bin', 'shared', 'sidecar', 'webhook', 'controller']
    .flatMap((d) => sources(join(REPO_ROOT, d)))
    .filter((f) => !f.endsWith('error-codes.ts'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');

  it('gives every code an HTTP status, a gRPC status and a message', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(entry.status, code).to.be.within(400, 599);
      expect(entry.grpc, code).to.be.within(1, 16);
      expect(entry.message, code).to.match(/^[a-zA-Z].+[^.]$/);
    }
  });

  it('holds every code the code raises or answers with, and no unused one', () => {
    const used = new Set(text.match(/DETOUR_E_[A-Z_]+/g) ?? []);
    expect(
      [...used].filter((c) => !codes.includes(c)),
      'codes missing from the registry',
    ).to.be.empty;
    expect(
      codes.filter((c) => !used.has(c)),
      'codes nothing uses',
    ).to.be.empty;
  });
});
