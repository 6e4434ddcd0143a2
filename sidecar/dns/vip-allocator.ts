import { createHash } from 'node:crypto';
import { parseCidr } from '../../shared/capture-settings.js';

/**
 * Hands out virtual IPs for route hosts that have no address of their own (no Service),
 * from an IPv4 range that routes nowhere (default 240.240.0.0/16, reserved "for future
 * use" by RFC 1112, as Istio's DNS proxy uses it). iptables sends TCP to the whole range
 * to the proxy, which routes by the Host header, so the address only has to be stable:
 * a host hashes to its address, and a collision probes to the next free one. Within one
 * process the same host always gets the same address.
 */
export class VipAllocator {
  readonly #base: number;
  readonly #size: number;
  readonly #byHost = new Map<string, string>();
  readonly #taken = new Set<number>();

  constructor(cidr: string) {
    const [address = '', prefixText = '32'] = parseCidr(cidr).split('/');
    const prefix = Number(prefixText);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address) || prefix > 30) {
      throw new Error(`VIP range ${cidr} must be an IPv4 CIDR of /30 or wider`);
    }
    const size = 2 ** (32 - prefix);
    this.#base = Math.floor(toNumber(address) / size) * size;
    // The first and last addresses (network, broadcast) are never handed out.
    this.#size = size - 2;
  }

  /** The host's address; throws when every address of the range is taken. */
  addressFor(host: string): string {
    const key = host.toLowerCase();
    const known = this.#byHost.get(key);
    if (known !== undefined) return known;
    const start = createHash('sha256').update(key).digest().readUInt32BE(0) % this.#size;
    for (let i = 0; i < this.#size; i++) {
      const offset = (start + i) % this.#size;
      if (this.#taken.has(offset)) continue;
      this.#taken.add(offset);
      const address = toAddress(this.#base + 1 + offset);
      this.#byHost.set(key, address);
      return address;
    }
    throw new Error(`VIP range exhausted: all ${this.#size} addresses are taken`);
  }

  get allocated(): number {
    return this.#byHost.size;
  }
}

function toNumber(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function toAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
