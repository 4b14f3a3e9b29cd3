import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { Counter } from 'prom-client';
import { appendAudit } from '../audit/audit';
import { ApiKey } from '../db/entities';
import { DomainError } from '../domain/errors';
import type { Logger } from '../infra/logger';
import { registry } from '../infra/metrics';
import { type PgListener, type PgListenerOptions, startPgListener } from '../infra/pg-listener';
import { ApiKeyCache } from './api-key-cache';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export const roleAtLeast = (have: Role, need: Role) => RANK[have] >= RANK[need];

export interface Principal {
  keyId: string;
  name: string;
  role: Role;
  /** The actor recorded on entries and audit rows. */
  actor: string;
}

/** Keys carry 256 random bits, so one SHA-256 is a sufficient at-rest hash. */
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const newKey = () => `alu_${randomBytes(32).toString('base64url')}`;

const lookups = new Counter({
  name: 'alluse_api_key_lookups_total', help: 'API key lookups, by where the answer came from (cache, database)',
  labelNames: ['source'] as const, registers: [registry],
});

/** The channel the api_keys trigger notifies (Migration20261130010000_shared_limits) with the changed key's id. */
export const API_KEYS_CHANNEL = 'alluse_api_keys';

export class ApiKeyService {
  /**
   * @param cache Known keys' principals. Without a change feed it serves an entry for 1 s after
   *   its lookup; `startApi` makes it follow the api_keys notifications (see ApiKeyCache).
   */
  constructor(
    private readonly orm: MikroORM,
    readonly cache: ApiKeyCache = new ApiKeyCache(),
  ) {}

  async create(name: string, role: Role, actor: string, key: string = newKey()): Promise<{ id: string; key: string; name: string; role: Role }> {
    const id = uuidv7();
    await this.orm.em.fork().transactional(async (em) => {
      await em.execute(
        'insert into api_keys (id, name, role, key_hash, key_prefix, created_by) values (?, ?, ?, ?, ?, ?)',
        [id, name, role, hashKey(key), key.slice(0, 8), actor],
      );
      await appendAudit(em, { actor, action: 'api_key.created', targetType: 'api_key', targetId: id, details: { name, role } });
    });
    return { id, key, name, role };
  }

  async revoke(id: string, actor: string): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      const rows = await em.execute<{ id: string }[]>(
        'update api_keys set revoked_at = now() where id = ? and revoked_at is null returning id', [id],
      );
      if (rows.length === 0) throw new DomainError('NotFound', 'API key not found');
      await appendAudit(em, { actor, action: 'api_key.revoked', targetType: 'api_key', targetId: id });
    });
    // This process stops accepting the key at once; the others when the trigger's notification reaches them.
    this.cache.evictKey(id);
  }

  /** The principal of a key that exists and is not revoked; null otherwise. Known keys come from the cache. */
  async authenticate(key: string): Promise<Principal | null> {
    const hash = hashKey(key);
    const { principal, cached } = await this.cache.lookup(hash, async () => {
      const rows = await this.orm.em.fork().execute<{ id: string; name: string; role: Role }[]>(
        'select id, name, role from api_keys where key_hash = ? and revoked_at is null', [hash],
      );
      const row = rows[0];
      return row ? { keyId: row.id, name: row.name, role: row.role, actor: `api-key:${row.id}` } : null;
    });
    lookups.inc({ source: cached ? 'cache' : 'database' });
    return principal;
  }

  /**
   * Makes sure an admin can get in on first start: the key given by
   * ALLUSE_ADMIN_API_KEY, else (when no admin key exists yet) a new one
   * written to `<dataDir>/admin-api-key` with mode 0600. Only its hash is stored.
   */
  async bootstrapAdmin(dataDir: string, envKey?: string): Promise<{ source: 'env' | 'file' | 'existing'; file?: string }> {
    if (envKey) {
      const known = await this.authenticate(envKey);
      if (!known) await this.create('admin (ALLUSE_ADMIN_API_KEY)', 'admin', 'system:bootstrap', envKey);
      return { source: 'env' };
    }
    const file = join(dataDir, 'admin-api-key');
    const admins = await this.orm.em.fork().count(ApiKey, { role: 'admin', revokedAt: null });
    if (admins > 0) return { source: 'existing', file: existsSync(file) ? file : undefined };
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const { key } = await this.create('admin (bootstrap)', 'admin', 'system:bootstrap');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return { source: 'file', file };
  }
}


/**
 * Makes `keys`' cache follow every change to api_keys, from any process: a dedicated connection
 * LISTENs on the trigger's channel (see ApiKeyCache for what happens while it is down).
 */
export function followApiKeyChanges(
  url: string,
  keys: ApiKeyService,
  log: Logger,
  timing: Pick<PgListenerOptions, 'heartbeatMs' | 'heartbeatTimeoutMs' | 'backoffMs'> = {},
): PgListener {
  const cache = keys.cache;
  const listener = startPgListener({
    ...timing,
    url,
    channel: API_KEYS_CHANNEL,
    applicationName: 'alluse-api-key-listener',
    log,
    onNotification: (keyId) => (keyId ? cache.evictKey(keyId) : cache.clear()),
    onListening: () => cache.clear(),
  });
  cache.follow(listener);
  return listener;
}
