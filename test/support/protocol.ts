import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestApi } from './api';
import { engineHelpers } from './engine';

export type ProtocolHelpers = ReturnType<typeof protocolHelpers>;

/**
 * Helpers shared by the protocol tests: the typed engine helpers on the
 * admin's client (see ./engine), and what only the database can tell.
 */
export function protocolHelpers(api: TestApi, orm: MikroORM) {
  /** Net of every posting an operation made, per account and bucket: all zero after a compensation. */
  const netOf = async (operationId: string) =>
    orm.em.fork().execute<{ account_id: string; bucket: string; net: string }[]>(
      `select p.account_id, p.bucket, sum(p.amount) as net from postings p join journal_entries e on e.id = p.entry_id
        where e.operation_id = ? group by 1, 2 having sum(p.amount) <> 0`,
      [operationId],
    );
  return { ...engineHelpers(api.client), netOf };
}
