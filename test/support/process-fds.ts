import { readdirSync } from 'node:fs';

/** Open file descriptors of a process (Linux: the entries of /proc/PID/fd). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Waits until `pid` holds at most `limit` descriptors, polling, for at most `ms`;
 * resolves with the last count seen (the caller asserts on it, so a leak shows its size).
 */
export async function fdsSettled(pid: number, limit: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let count = openFds(pid);
  while (count > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    count = openFds(pid);
  }
  return count;
}
