/**
 * Ends the process after an API server that never answered: the abandoned TLS connect
 * would hold the event loop until undici's own 10 s connect timeout, and the answer is
 * already out (stdout and stderr writes are synchronous for files and pipes on Linux).
 * https://nodejs.org/api/process.html#a-note-on-process-io
 */
export function endNow(code: number): never {
  process.exit(code);
}
