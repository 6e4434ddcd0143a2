import fs from 'node:fs';
import tls from 'node:tls';
import { DetourError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** The serving certificate or key cannot be read or do not belong together. */
export class TlsError extends DetourError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('DETOUR_E_TLS', message, details, options);
  }
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface KeyPair {
  cert: string;
  key: string;
}

/** Reads and checks a cert/key pair (createSecureContext refuses a mismatched pair). */
export function readKeyPair(files: TlsFiles): KeyPair {
  let pair: KeyPair;
  try {
    pair = {
      cert: fs.readFileSync(files.certFile, 'utf8'),
      key: fs.readFileSync(files.keyFile, 'utf8'),
    };
  } catch (err) {
    throw new TlsError(`cannot read TLS files: ${errorMessage(err)}`, { ...files }, { cause: err });
  }
  try {
    tls.createSecureContext(pair);
  } catch (err) {
    throw new TlsError(
      `${files.certFile} and ${files.keyFile} are not a usable certificate and key: ${errorMessage(err)}`,
      { ...files },
      { cause: err },
    );
  }
  return pair;
}

/**
 * Serves renewed certificates without a restart (cert-manager rotates the Secret; the
 * kubelet swaps the mounted files via a `..data` symlink). Polling with fs.watchFile
 * follows the symlink swap where fs.watch on the old inode would miss it. A pair that
 * fails to load (say, the cert written before the key) is logged and the old context
 * kept; the next change retries.
 */
export function watchKeyPair(
  server: tls.Server,
  files: TlsFiles,
  options: { intervalMs: number; logger: Logger; onReload?: () => void },
): () => void {
  const reload = (): void => {
    try {
      server.setSecureContext(readKeyPair(files));
      options.logger.info({ ...files }, 'reloaded TLS certificate');
      options.onReload?.();
    } catch (err) {
      options.logger.warn(
        { ...files, err: errorMessage(err) },
        'TLS reload failed; keeping the old certificate',
      );
    }
  };
  const listener = (curr: fs.Stats, prev: fs.Stats): void => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.ino !== prev.ino || curr.size !== prev.size) reload();
  };
  const watchOptions = { interval: options.intervalMs, persistent: false };
  fs.watchFile(files.certFile, watchOptions, listener);
  fs.watchFile(files.keyFile, watchOptions, listener);
  return () => {
    fs.unwatchFile(files.certFile, listener);
    fs.unwatchFile(files.keyFile, listener);
  };
}
