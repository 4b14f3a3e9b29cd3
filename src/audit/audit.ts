import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { execBound, pgDate } from '../db/sql';

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
  return hashOf(prevHash, f, canonicalJson(f.details));
}

/**
 * The hash of a row whose details are already canonical JSON: the body is
 * exactly `canonicalJson` of the row (keys in sorted order), built without
 * serialising the details twice.
 */
function hashOf(prevHash: string, f: Omit<ChainedFields, 'details'>, details: string): string {
  const { head, middle, tail } = bodyAround(f, details);
  return createHash('sha256').update(prevHash).update('\n').update(`${head}${f.at.toISOString()}${middle}${f.seq}${tail}`).digest('hex');
}

/**
 * A row's hashed body (canonical JSON, keys in sorted order) without its time
 * and sequence number: body = head + at + middle + seq + tail. JSON strings
 * of an ISO time and of a decimal number need no escaping, so the body is the
 * same whichever side fills them in.
 */
function bodyAround(f: Omit<ChainedFields, 'details' | 'seq' | 'at'>, details: string): { head: string; middle: string; tail: string } {
  const j = JSON.stringify;
  return {
    head: `{"action":${j(f.action)},"actor":${j(f.actor)},"at":"`,
    middle: `","details":${details},"portfolioId":${j(f.portfolioId)},"seq":"`,
    tail: `","targetId":${j(f.targetId)},"targetType":${j(f.targetType)}}`,
  };
}

/**
 * An audit row for the database to chain (`audit_append`, and `ledger_post`
 * for an entry's row): the fields, the canonical details and the hashed body
 * around the time and sequence number, which the database decides under the
 * chain's lock. It hashes exactly as `appendAuditMany` does, so
 * `verifyChain` checks both alike.
 */
export interface ChainTemplate {
  chain: string;
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  portfolioId: string | null;
  details: string;
  head: string;
  middle: string;
  tail: string;
}

export function chainTemplate(input: AuditInput): ChainTemplate {
  const fields = {
    actor: input.actor, action: input.action, targetType: input.targetType ?? null, targetId: input.targetId ?? null,
    portfolioId: input.portfolioId ?? null,
  };
  const details = canonicalJson(input.details ?? {});
  return { chain: chainOf(input.portfolioId), ...fields, details, ...bodyAround(fields, details) };
}

/** Each portfolio has its own chain (so portfolios do not serialise each other); key and system events use "system". */
export const chainOf = (portfolioId?: string | null) => portfolioId ?? 'system';

/**
 * Appends one hash-chained audit row in one round trip (`audit_append` takes
 * the chain's lock, reads its head and inserts). Must run inside the
 * transaction of the change it records, so a change and its audit commit or
 * roll back together.
 */
export async function appendAudit(em: EntityManager, input: AuditInput): Promise<void> {
  await execBound(em, 'select audit_append(?::jsonb)', [JSON.stringify(chainTemplate(input))]);
}

/**
 * Appends rows in order, each chained to the one before on its chain, in
 * three round trips whatever the number of chains: one statement takes the
 * chain heads' advisory locks (in name order, so two batches never wait on
 * each other in a cycle), one reads the heads, one multi-row insert (the
 * rows as one JSON parameter) writes every row. A batch of postings over many portfolios
 * audits every entry at about the cost of one.
 */
export async function appendAuditMany(em: EntityManager, inputs: readonly AuditInput[]): Promise<void> {
  if (inputs.length === 0) return;
  const chains = [...new Set(inputs.map((i) => chainOf(i.portfolioId)))].sort();
  const names = JSON.stringify(chains.map((c) => `audit:${c}`));
  await execBound(em,
    `select pg_advisory_xact_lock(h) from (
       select hashtextextended(c, 0) as h from jsonb_array_elements_text(?::jsonb) as c order by c offset 0) locks`,
    [names],
  );
  const heads = await execBound<{ chain: string; seq: string; hash: string }>(em,
    // One index probe per chain (the newest row), however long the chain.
    `select c.chain, h.seq, h.hash from jsonb_array_elements_text(?::jsonb) as c(chain)
       cross join lateral (select seq, hash from audit_log where chain = c.chain order by seq desc limit 1) h`,
    [JSON.stringify(chains)],
  );
  const head = new Map(chains.map((c) => [c, { seq: 0n, hash: GENESIS_HASH }]));
  for (const h of heads) head.set(h.chain, { seq: BigInt(h.seq), hash: h.hash });
  const at = new Date();
  const rows = inputs.map((input) => {
    const chain = chainOf(input.portfolioId);
    const prev = head.get(chain)!;
    const fields = {
      seq: (prev.seq + 1n).toString(), at, actor: input.actor, action: input.action, targetType: input.targetType ?? null,
      targetId: input.targetId ?? null, portfolioId: input.portfolioId ?? null,
    };
    const details = canonicalJson(input.details ?? {});
    const hash = hashOf(prev.hash, fields, details);
    head.set(chain, { seq: prev.seq + 1n, hash });
    return {
      chain, seq: fields.seq, at: at.toISOString(), actor: fields.actor, action: fields.action, target_type: fields.targetType,
      target_id: fields.targetId, portfolio_id: fields.portfolioId, details, prev_hash: prev.hash, hash,
    };
  });
  await execBound(em,
    `insert into audit_log (chain, seq, at, actor, action, target_type, target_id, portfolio_id, details, prev_hash, hash)
     select chain, seq, at, actor, action, target_type, target_id, portfolio_id, details::jsonb, prev_hash, hash
       from jsonb_to_recordset(?::jsonb) as x(chain text, seq bigint, at timestamptz, actor text, action text, target_type text,
         target_id text, portfolio_id uuid, details text, prev_hash text, hash text)`,
    [JSON.stringify(rows)],
  );
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
