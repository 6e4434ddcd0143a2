import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** `server.listen` as a promise that rejects on EADDRINUSE and friends instead of emitting. */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops an HTTP server now: open connections (idle or not) are cut, then it closes. */
export function closeNow(server: Server & { closeAllConnections(): void }): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}
