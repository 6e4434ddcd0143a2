import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The parts of resolv.conf(5) the DNS proxy needs: where to forward (the first
 * `nameserver`) and which suffixes the app's resolver appends (`search`), so that a
 * query for `my-app.my-ns.default.svc.cluster.local` is recognised as the route host
 * `my-app.my-ns` the app asked for.
 */
export interface ResolvConf {
  nameservers: string[];
  /** Lower-case, without the trailing dot, in file order. */
  search: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, ...values] = line.split(/\s+/);
    if (keyword === 'nameserver' && values[0] !== undefined) {
      // A scoped IPv6 address (fe80::1%eth0) keeps its zone for the socket.
      if (net.isIP(values[0].split('%')[0] ?? '') !== 0) nameservers.push(values[0]);
    } else if (keyword === 'search' || keyword === 'domain') {
      // The last `search` or `domain` line wins (resolv.conf(5)).
      search = values.map((d) => d.toLowerCase().replace(/\.$/, '')).filter((d) => d !== '');
    }
  }
  return { nameservers, search };
}

export function readResolvConf(path: string): ResolvConf {
  return parseResolvConf(readFileSync(path, 'utf8'));
}
