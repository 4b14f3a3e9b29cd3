import type { Principal } from './api-keys';

/** A feed of changes to the api_keys table (src/infra/pg-listener.ts): every change committed before `confirmedAt()` has been seen. */
export interface ChangeFeed {
  confirmedAt(): number;
}

export interface ApiKeyCacheOptions {
  /** Entries kept at most; the least recently used goes first. */
  maxEntries?: number;
  /** An entry is served only while it or the change feed was confirmed this recently (ms). */
  maxStaleMs?: number;
  now?: () => number;
}

interface Entry {
  principal: Principal;
  /** When the lookup that produced it started: the row it read is at least this recent. */
  loadedAt: number;
}

/**
 * The principals of recently used API keys, by key hash, so that a request needs no database
 * lookup. Kept fresh by a change feed (a LISTEN on the api_keys trigger's notifications):
 * a change evicts the key's entry. The cache never trusts more than it knows: an entry is served
 * only while the newer of its own load and the feed's last confirmed round trip is under
 * `maxStaleMs` (1 s) old. Without a feed, or while the feed's connection is down or silent,
 * that makes it a 1-second cache; the feed's (re)connection clears it, since changes made while
 * it was away were not notified.
 *
 * Only known keys are cached, in a bounded LRU: an unknown or revoked key is looked up every
 * time (as it was before the cache), so random keys cannot grow memory or evict good entries.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  /** Lookups in flight, so that concurrent requests with one key share a query. */
  private readonly loading = new Map<string, Promise<Principal | null>>();
  /** Bumped by every eviction: a lookup that started before one may have read the old row, so its result is not kept. */
  private generation = 0;
  private feed: ChangeFeed = { confirmedAt: () => 0 };
  private readonly maxEntries: number;
  private readonly maxStaleMs: number;
  private readonly now: () => number;

  constructor(opts: ApiKeyCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.maxStaleMs = opts.maxStaleMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** From now on, entries stay valid as long as this feed keeps confirming it has seen every change. */
  follow(feed: ChangeFeed): void {
    this.feed = feed;
    this.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached principal of a key hash, or `load()`'s answer (kept when it is a principal and nothing changed meanwhile). */
  async lookup(hash: string, load: () => Promise<Principal | null>): Promise<{ principal: Principal | null; cached: boolean }> {
    const hit = this.fresh(hash);
    if (hit) return { principal: hit, cached: true };
    let pending = this.loading.get(hash);
    if (!pending) {
      const generation = this.generation;
      const startedAt = this.now();
      pending = load()
        .then((principal) => {
          if (principal && generation === this.generation) this.remember(hash, { principal, loadedAt: startedAt });
          return principal;
        })
        .finally(() => {
          if (this.loading.get(hash) === pending) this.loading.delete(hash);
        });
      this.loading.set(hash, pending);
    }
    return { principal: await pending, cached: false };
  }

  /** A key changed (revoked, its role or name edited): its entry goes. */
  evictKey(keyId: string): void {
    this.forgetLookupsInFlight();
    for (const [hash, entry] of this.entries) if (entry.principal.keyId === keyId) this.entries.delete(hash);
  }

  clear(): void {
    this.forgetLookupsInFlight();
    this.entries.clear();
  }

  /** Lookups in flight may have read a row from before the change: their results are not kept, and later requests do not wait on them. */
  private forgetLookupsInFlight(): void {
    this.generation++;
    this.loading.clear();
  }

  private fresh(hash: string): Principal | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    this.entries.delete(hash);
    if (this.now() - Math.max(entry.loadedAt, this.feed.confirmedAt()) >= this.maxStaleMs) return undefined;
    this.entries.set(hash, entry); // Most recently used last.
    return entry.principal;
  }

  private remember(hash: string, entry: Entry): void {
    this.entries.delete(hash);
    this.entries.set(hash, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
