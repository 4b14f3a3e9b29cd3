import type { MikroORM } from '@mikro-orm/postgresql';
import { pgIso } from '../db/sql';

export interface AuditItem {
  id: string; chain: string; seq: string; at: string; actor: string; action: string; targetType: string | null;
  targetId: string | null; portfolioId: string | null; details: Record<string, unknown>; hash: string; prevHash: string;
}

export class AuditLogService {
  constructor(private readonly orm: MikroORM) {}

  async list(portfolioId: string | undefined, limit: number): Promise<AuditItem[]> {
    const rows = await this.orm.em.fork().execute<{
      id: string; chain: string; seq: string; at: string; actor: string; action: string; target_type: string | null;
      target_id: string | null; portfolio_id: string | null; details: Record<string, unknown>; hash: string; prev_hash: string;
    }[]>(
      `select * from audit_log ${portfolioId ? 'where portfolio_id = ?' : ''} order by id desc limit ?`,
      portfolioId ? [portfolioId, limit] : [limit],
    );
    return rows.map((r) => ({
      id: String(r.id), chain: r.chain, seq: String(r.seq), at: pgIso(r.at), actor: r.actor, action: r.action,
      targetType: r.target_type, targetId: r.target_id, portfolioId: r.portfolio_id, details: r.details,
      hash: r.hash, prevHash: r.prev_hash,
    }));
  }
}
