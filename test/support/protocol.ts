import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestApi } from './api';

/** Helpers shared by the protocol tests: set a portfolio up through the API and wait for operations. */
export function protocolHelpers(api: TestApi, orm: MikroORM) {
  let n = 0;
  const activity = async (accountId: string, type: string, amount: string) => {
    const res = await api.call('POST', `/v1/accounts/${accountId}/activity`, {
      body: { type, amount }, headers: { 'idempotency-key': `h-${Date.now()}-${n++}` },
    });
    if (res.status !== 201) throw new Error(`activity ${type} ${amount}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const portfolio = async (initialCapital = '300000.00', settings: Record<string, unknown> = {}) => {
    const res = await api.call('POST', '/v1/portfolios', { body: { name: 'P', owner: 'o', initialCapital, settings } });
    if (res.status !== 201) throw new Error(JSON.stringify(res.body));
    const root = res.body.units[0];
    const acct = (t: string) => root.accounts.find((a: { type: string }) => a.type === t).id as string;
    return { id: res.body.id as string, rootUnitId: root.id as string, gen: acct('gen'), rev: acct('rev'), com: acct('com') };
  };
  const waitFor = async (operationId: string, timeoutMs = 45_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await api.call('GET', `/v1/operations/${operationId}`);
      if (res.status === 200 && res.body.status !== 'running' && res.body.status !== 'waiting') return res.body;
      if (Date.now() > deadline) throw new Error(`operation ${operationId} still ${res.body?.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 150));
    }
  };
  const account = async (id: string) => (await api.call('GET', `/v1/accounts/${id}`)).body;
  const integrity = async (portfolioId: string) => (await api.call('GET', `/v1/portfolios/${portfolioId}/integrity`)).body;
  /** Net of every posting an operation made, per account and bucket: all zero after a compensation. */
  const netOf = async (operationId: string) =>
    orm.em.fork().execute<{ account_id: string; bucket: string; net: string }[]>(
      `select p.account_id, p.bucket, sum(p.amount) as net from postings p join journal_entries e on e.id = p.entry_id
        where e.operation_id = ? group by 1, 2 having sum(p.amount) <> 0`,
      [operationId],
    );
  return { activity, portfolio, waitFor, account, integrity, netOf };
}
