import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/**
 * Server-side request forgery guard for webhook URLs. A webhook makes the
 * engine send requests to an address an admin chose; without this guard that
 * address could be the engine's own PostgreSQL, a cloud metadata endpoint or
 * anything else on the private network. Every address a host resolves to must
 * be a public unicast address (ipaddr.js range 'unicast'), unless the
 * allow-list (WEBHOOK_ALLOWED_HOSTS) permits the host name or the address.
 * The check runs when a webhook is created and again before every delivery
 * attempt; the attempt then connects only to the addresses that were checked.
 */

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

export interface AllowList {
  /** Host names permitted whatever they resolve to (lowercase, no trailing dot). */
  readonly hosts: ReadonlySet<string>;
  /** Addresses and networks permitted although not public. */
  readonly networks: readonly (readonly [Ip, number])[];
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type LookupAll = (hostname: string) => Promise<ResolvedAddress[]>;

export type UrlCheck =
  | { ok: true; url: URL; addresses: ResolvedAddress[] }
  /** invalid: not an http(s) URL; dns: the host does not resolve; refused: the guard refuses an address. */
  | { ok: false; kind: 'invalid' | 'dns' | 'refused'; reason: string };

const normHost = (h: string) => h.trim().toLowerCase().replace(/\.$/, '');

/** Whether one allow-list entry is well formed: a CIDR, an IP address or a host name. */
export function isAllowListEntry(entry: string): boolean {
  const e = entry.trim();
  if (e.includes('/')) return ipaddr.isValidCIDR(e);
  if (ipaddr.isValid(e)) return true;
  return /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i.test(e);
}

/** Builds the allow-list from WEBHOOK_ALLOWED_HOSTS entries (host names, IP addresses, CIDRs). */
export function parseAllowList(entries: readonly string[] = []): AllowList {
  const hosts = new Set<string>();
  const networks: (readonly [Ip, number])[] = [];
  for (const raw of entries) {
    const e = raw.trim();
    if (!e) continue;
    if (e.includes('/') && ipaddr.isValidCIDR(e)) {
      const [addr, bits] = ipaddr.parseCIDR(e);
      networks.push([addr, bits]);
    } else if (ipaddr.isValid(e)) {
      const addr = ipaddr.process(e);
      networks.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else {
      hosts.add(normHost(e));
    }
  }
  return { hosts, networks };
}

const RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified address', broadcast: 'a broadcast address', multicast: 'a multicast address',
  linkLocal: 'a link-local address', loopback: 'a loopback address', carrierGradeNat: 'a carrier-grade NAT (100.64/10) address',
  private: 'a private (RFC 1918) address', uniqueLocal: 'a unique local (fc00::/7) address', reserved: 'a reserved address',
};

/** Null when the engine may connect to `address`; otherwise the address and what it is. */
function refused(address: string, allow: AllowList): { ip: string; what: string } | null {
  let ip: Ip;
  try {
    // process(): an IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it is.
    ip = ipaddr.process(address);
  } catch {
    return { ip: address, what: 'not an IP address' };
  }
  const range = ip.range();
  if (range === 'unicast') return null;
  for (const [net, bits] of allow.networks) {
    if (net.kind() === ip.kind() && ip.match(net, bits)) return null;
  }
  return { ip: ip.toString(), what: RANGE_NAMES[range] ?? `a special-purpose address (${range})` };
}

/** Null when the engine may connect to `address`; otherwise why not ("127.0.0.1 is a loopback address"). */
export function refusalFor(address: string, allow: AllowList): string | null {
  const r = refused(address, allow);
  return r && `${r.ip} is ${r.what}`;
}

const LOOKUP_TIMEOUT_MS = 5000;

/** Every address the host resolves to (the system resolver, like any outgoing connection). */
export const systemLookupAll: LookupAll = async (hostname) => {
  let timer: NodeJS.Timeout | undefined;
  try {
    const found = await Promise.race([
      dnsLookup(hostname, { all: true, verbatim: true }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`DNS lookup timed out after ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
      }),
    ]);
    return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
  } finally {
    clearTimeout(timer);
  }
};

/** Parses a webhook URL: http(s) only, with a host. */
export function parseWebhookUrl(raw: string): URL | string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'the URL is not valid';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the URL must use http or https';
  if (!url.hostname) return 'the URL has no host';
  return url;
}

/**
 * Resolves the URL's host and checks every address. An allow-listed host
 * name is permitted whatever it resolves to; otherwise each address must be
 * public unicast or inside an allow-listed address or network.
 */
export async function checkWebhookUrl(raw: string | URL, allow: AllowList, lookupAll: LookupAll = systemLookupAll): Promise<UrlCheck> {
  const url = typeof raw === 'string' ? parseWebhookUrl(raw) : raw;
  if (typeof url === 'string') return { ok: false, kind: 'invalid', reason: url };
  // WHATWG URL has already normalised IPv4 forms (0x7f.1 → 127.0.0.1); IPv6 literals keep their brackets.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(host) && !/^\d+$/.test(host)) {
    addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  } else {
    try {
      addresses = await lookupAll(host);
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { ok: false, kind: 'dns', reason: `the host ${host} does not resolve${code ? ` (${code})` : ''}` };
    }
    if (addresses.length === 0) return { ok: false, kind: 'dns', reason: `the host ${host} does not resolve` };
  }
  if (allow.hosts.has(normHost(host))) return { ok: true, url, addresses };
  for (const a of addresses) {
    const r = refused(a.address, allow);
    if (r) {
      const what = host === a.address ? `${r.ip} is ${r.what}` : `the host ${host} resolves to ${r.ip}, ${r.what}`;
      return { ok: false, kind: 'refused', reason: `${what}; WEBHOOK_ALLOWED_HOSTS can permit it` };
    }
  }
  return { ok: true, url, addresses };
}
