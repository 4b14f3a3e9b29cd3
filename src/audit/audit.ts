import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pgDate } from '../db/sql';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  actor: string;
  action: string;
  targetType?: string;
  targetId?: string;
  portfolioId?: string;
  details?: Record<string, unknown>;
}

interface ChainedFields {
  seq: string;
  at: Date;
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  portfolioId: string | null;
  details: unknown;
}

/** JSON with object keys sorted at every level, so a row hashes the same after a jsonb round trip. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function auditHash(prevHash: string, f: ChainedFields): string {
  const body = canonicalJson({ ...f, at: f.at.toISOString() });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/** Each portfolio has its own chain (so portfolios do not serialise each other); key and system events use "system". */
export const chainOf = (portfolioId?: string | null) => portfolioId ?? 'system';

/**
 * Appends one hash-chained audit row. Must run inside the transaction of the
 * change it records, so a change and its audit commit or roll back together.
 */
export async function appendAudit(em: EntityManager, input: AuditInput): Promise<void> {
  await appendAuditMany(em, [input]);
}

/** 11 parameters a row: well below PostgreSQL's 65,535 bind parameters. */
const AUDIT_ROWS_PER_STATEMENT = 1000;

/**
 * Appends rows in order, each chained to the one before on its chain, with
 * one multi-row insert per chain (a batch of postings audits every entry at
 * the cost of one). A chain head is serialised by a transaction-scoped
 * advisory lock; chains are locked in name order so two batches never wait
 * on each other in a cycle.
 */
export async function appendAuditMany(em: EntityManager, inputs: readonly AuditInput[]): Promise<void> {
  const byChain = new Map<string, AuditInput[]>();
  for (const input of inputs) {
    const chain = chainOf(input.portfolioId);
    byChain.set(chain, [...(byChain.get(chain) ?? []), input]);
  }
  const at = new Date();
  for (const chain of [...byChain.keys()].sort()) {
    await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`audit:${chain}`]);
    const [last] = await em.execute<{ seq: string; hash: string }[]>(
      'select seq, hash from audit_log where chain = ? order by seq desc limit 1',
      [chain],
    );
    let seq = last ? BigInt(last.seq) : 0n;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const rows: unknown[][] = [];
    for (const input of byChain.get(chain)!) {
      seq += 1n;
      const fields: ChainedFields = {
        seq: seq.toString(), at, actor: input.actor, action: input.action, targetType: input.targetType ?? null,
        targetId: input.targetId ?? null, portfolioId: input.portfolioId ?? null, details: JSON.parse(canonicalJson(input.details ?? {})),
      };
      const hash = auditHash(prevHash, fields);
      rows.push([chain, fields.seq, at, fields.actor, fields.action, fields.targetType, fields.targetId, fields.portfolioId,
        JSON.stringify(fields.details), prevHash, hash]);
      prevHash = hash;
    }
    for (let i = 0; i < rows.length; i += AUDIT_ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + AUDIT_ROWS_PER_STATEMENT);
      await em.execute(
        `insert into audit_log (chain, seq, at, actor, action, target_type, target_id, portfolio_id, details, prev_hash, hash)
         values ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?)').join(', ')}`,
        chunk.flat(),
      );
    }
  }
}

export interface ChainReport {
  chain: string;
  rows: number;
  ok: boolean;
  firstBadSeq?: string;
}

/** Recomputes a chain from its first row: every hash, every link and every sequence number. */
export async function verifyChain(em: EntityManager, chain: string): Promise<ChainReport> {
  const rows = await em.execute<
    {
      seq: string; at: string; actor: string; action: string; target_type: string | null; target_id: string | null;
      portfolio_id: string | null; details: unknown; prev_hash: string; hash: string;
    }[]
  >('select * from audit_log where chain = ? order by seq', [chain]);
  let prev = GENESIS_HASH;
  let expectedSeq = 1n;
  for (const r of rows) {
    const fields: ChainedFields = {
      seq: r.seq, at: pgDate(r.at), actor: r.actor, action: r.action, targetType: r.target_type,
      targetId: r.target_id, portfolioId: r.portfolio_id, details: r.details,
    };
    if (BigInt(r.seq) !== expectedSeq || r.prev_hash !== prev || auditHash(prev, fields) !== r.hash) {
      return { chain, rows: rows.length, ok: false, firstBadSeq: r.seq };
    }
    prev = r.hash;
    expectedSeq += 1n;
  }
  return { chain, rows: rows.length, ok: true };
}
