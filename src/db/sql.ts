import type { EntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * MikroORM hands timestamps from raw queries back as PostgreSQL text
 * ("2026-11-27 23:38:22.597+00"); this turns one into a Date.
 */
export function pgDate(value: string | Date): Date {
  if (value instanceof Date) return value;
  const iso = value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable timestamp ${value}`);
  return d;
}
export const pgIso = (value: string | Date): string => pgDate(value).toISOString();

/**
 * Runs a statement with its parameters bound by the server (`$1`, ...), in
 * the entity manager's transaction when it has one. `em.execute` inlines
 * parameters into the SQL text on the client (escaped), which costs tens of
 * milliseconds for a large JSON parameter; the multi-row writes of the
 * ledger, the audit log and imports pass their rows as one JSON parameter and
 * use this instead. Returns the rows, as `em.execute` does.
 */
export async function execBound<T = Record<string, unknown>>(em: EntityManager, sql: string, params: readonly Knex.RawBinding[]): Promise<T[]> {
  const query = em.getConnection().getKnex().raw(sql, params);
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (trx) query.transacting(trx);
  const result = (await query) as { rows: T[] };
  return result.rows;
}
