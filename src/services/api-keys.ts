import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { ApiKey } from '../db/entities';
import { DomainError } from '../domain/errors';

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

export class ApiKeyService {
  constructor(private readonly orm: MikroORM) {}

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
  }

  async authenticate(key: string): Promise<Principal | null> {
    const row = await this.orm.em.fork().findOne(ApiKey, { keyHash: hashKey(key), revokedAt: null });
    return row ? { keyId: row.id, name: row.name, role: row.role as Role, actor: `api-key:${row.id}` } : null;
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

