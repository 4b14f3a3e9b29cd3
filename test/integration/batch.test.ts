import Decimal from 'decimal.js';
import type { Schemas } from '../../src/client';
import { useTestApi } from '../support/api';

/** POST /v1/activity/batch against the real ledger: per-item keys and results, atomic batches, shared keys with single requests. */
const { db, api, h } = useTestApi();

const sql = <T>(query: string, params: unknown[] = []) => db.orm.em.fork().execute<T[]>(query, params);
const entryCount = async () => Number((await sql<{ n: string }>('select count(*) as n from journal_entries'))[0]!.n);
/** A single activity request, answered as is (status and headers too). */
const activity = (accountId: string, body: Schemas['Activity'], idempotencyKey: string) =>
  api.client.POST('/v1/accounts/{id}/activity', { params: { path: { id: accountId }, header: { 'idempotency-key': idempotencyKey } }, body });
/** A batch as given (the validation test sends bad items), by the admin unless told. */
const batch = (items: unknown[], atomic?: boolean, key?: string | null) => api.call('POST', '/v1/activity/batch', { body: { items, ...(atomic !== undefined && { atomic }) }, key });

describe('POST /v1/activity/batch', () => {
  it('posts many items over several portfolios in order, each entry balanced and audited', async () => {
    const ps = [await h.portfolio(), await h.portfolio(), await h.portfolio()];
    const items = ps.flatMap((p, k) =>
      Array.from({ length: 100 }, (_, i) => ({ accountId: i % 2 ? p.gen : p.rev, type: i % 10 === 9 ? 'fee' : 'premium', amount: `${10 + i}.${k}5`, idempotencyKey: `bulk-${k}-${i}` })),
    );
    const before = await entryCount();
    const res = await batch(items);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ posted: 300, duplicates: 0, rejected: 0 });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(items.map(() => 'posted'));
    expect(await entryCount()).toBe(before + 300);

    // Every account's cached balance equals its opening plus the signed items; the integrity check agrees.
    for (const p of ps) {
      for (const [acct, opening] of [[p.gen, '120000.00'], [p.rev, '90000.00']] as const) {
        const net = items.filter((i) => i.accountId === acct).reduce((s, i) => (i.type === 'fee' ? s.minus(i.amount) : s.plus(i.amount)), new Decimal(opening));
        expect((await h.account(acct)).balance).toBe(net.toFixed(2));
      }
      expect((await h.integrity(p.id)).ok).toBe(true);
    }
    // One audit row per portfolio for the batch, listing each of its entries with what its own row would have said.
    const audited = await sql<{ portfolio_id: string; entry_id: string; action: string }>(
      `select a.portfolio_id, e->>'entryId' as entry_id, e->>'action' as action
         from audit_log a cross join jsonb_array_elements(a.details->'entries') e where a.action = 'activity.batch.posted'`);
    expect(new Set(audited.map((r) => r.portfolio_id))).toEqual(new Set(ps.map((p) => p.id)));
    expect(audited.map((r) => r.entry_id).sort()).toEqual(res.body.results.map((r: { entryId: string }) => r.entryId).sort());
    expect(audited.filter((r) => r.action === 'account.activity.fee')).toHaveLength(30);
  });

  it('answers a repeated batch with duplicates and posts nothing new', async () => {
    const p = await h.portfolio();
    const items = Array.from({ length: 20 }, (_, i) => ({ accountId: p.gen, type: 'premium', amount: '100.00', idempotencyKey: `again-${i}` }));
    const first = await batch(items);
    const before = await entryCount();
    const second = await batch(items);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ posted: 0, duplicates: 20, rejected: 0 });
    expect(second.body.results.map((r: { entryId: string }) => r.entryId)).toEqual(first.body.results.map((r: { entryId: string }) => r.entryId));
    expect(await entryCount()).toBe(before);
    expect((await h.account(p.gen)).balance).toBe('122000.00');
  });

  it('refuses items one by one: the others post, and later items see earlier ones', async () => {
    const p = await h.portfolio();
    const res = await batch([
      { accountId: p.com, type: 'withdrawal', amount: '10.00', idempotencyKey: 'w-com' },
      { accountId: '00000000-0000-7000-8000-000000000000', type: 'premium', amount: '1.00', idempotencyKey: 'ghost' },
      // The Rev-Acc's cash above its buffer is 0 at opening: this withdrawal is possible only after the premium before it.
      { accountId: p.rev, type: 'premium', amount: '3000.00', idempotencyKey: 'prem' },
      { accountId: p.rev, type: 'withdrawal', amount: '2500.00', idempotencyKey: 'wd' },
      { accountId: p.rev, type: 'withdrawal', amount: '2500.00', idempotencyKey: 'wd' },
      { accountId: p.rev, type: 'withdrawal', amount: '2600.00', idempotencyKey: 'wd' },
      { accountId: p.gen, type: 'fee', amount: '999999.00', idempotencyKey: 'too-much' },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: string; error?: { type: string } }) => r.error?.type ?? r.status)).toEqual([
      'WithdrawalNotAllowed', 'AccountNotFound', 'posted', 'posted', 'duplicate', 'IdempotencyConflict', 'InsufficientFunds',
    ]);
    expect(res.body.results[4].entryId).toBe(res.body.results[3].entryId);
    expect(res.body).toMatchObject({ posted: 2, duplicates: 1, rejected: 4 });
    expect((await h.account(p.rev)).balance).toBe('90500.00');
    expect((await h.account(p.com)).balance).toBe('90000.00');
  });

  it('posts all or nothing when atomic', async () => {
    const p = await h.portfolio();
    const before = await entryCount();
    const res = await batch([
      { accountId: p.gen, type: 'premium', amount: '500.00', idempotencyKey: 'a1' },
      { accountId: p.com, type: 'withdrawal', amount: '1.00', idempotencyKey: 'a2' },
      { accountId: p.gen, type: 'premium', amount: '700.00', idempotencyKey: 'a3' },
    ], true);
    expect(res.status).toBe(422);
    expect(res.body.detail).toContain('nothing was posted: item 1 (a2)');
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['not_posted', 'rejected', 'not_posted']);
    expect(await entryCount()).toBe(before);
    expect((await h.account(p.gen)).balance).toBe('120000.00');

    // The same keys are free: the corrected batch posts.
    const fixed = await batch([
      { accountId: p.gen, type: 'premium', amount: '500.00', idempotencyKey: 'a1' },
      { accountId: p.gen, type: 'premium', amount: '700.00', idempotencyKey: 'a3' },
    ], true);
    expect(fixed.body).toMatchObject({ posted: 2, rejected: 0 });
    expect((await h.account(p.gen)).balance).toBe('121200.00');
  });

  it('shares keys with single activity requests in both directions', async () => {
    const p = await h.portfolio();
    const posted = await batch([{ accountId: p.gen, type: 'premium', amount: '42.00', idempotencyKey: 'shared-1' }]);
    const single = await activity(p.gen, { type: 'premium', amount: '42.00' }, 'shared-1');
    expect(single.response.status).toBe(201);
    expect(single.response.headers.get('idempotent-replayed')).toBe('true');
    expect(single.data!.entryId).toBe(posted.body.results[0].entryId);
    expect(single.data!.account.balance).toBe('120042.00');
    expect((await activity(p.gen, { type: 'premium', amount: '43.00' }, 'shared-1')).response.status).toBe(409);

    const alone = await h.activity(p.gen, 'fee', '2.00', { idempotencyKey: 'shared-2' });
    const again = await batch([{ accountId: p.gen, type: 'fee', amount: '2.00', idempotencyKey: 'shared-2' }]);
    expect(again.body.results[0]).toMatchObject({ status: 'duplicate', entryId: alone.entryId });
    expect((await h.account(p.gen)).balance).toBe('120040.00');
  });

  it('validates the request: size, fields, role', async () => {
    const p = await h.portfolio();
    const item = { accountId: p.gen, type: 'premium', amount: '1.00', idempotencyKey: 'k' };
    expect((await batch([])).status).toBe(400);
    expect((await batch(Array.from({ length: 10_001 }, (_, i) => ({ ...item, idempotencyKey: `k${i}` })))).status).toBe(400);
    const bad = await batch([{ ...item, amount: '1.001' }, { ...item, type: 'bonus' }]);
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['body.items.0.amount', 'body.items.1.type']);
    const huge = await batch(Array.from({ length: 6000 }, (_, i) => ({ ...item, idempotencyKey: `h${i}`, note: 'n'.repeat(1000) })));
    expect(huge.status).toBe(413);
    expect(huge.body.detail).toBe('the request body is larger than 5 MiB');
    const lone = await api.call('POST', '/v1/activity/batch', { raw: JSON.stringify({ items: [{ ...item, note: 'x' }] }).replace('"x"', '"\\ud800"'), headers: { 'content-type': 'application/json' } });
    expect(lone.status).toBe(400);
    expect(await sql('select 1 from journal_entries where idempotency_key = ?', [`activity:${p.gen}:k`])).toHaveLength(0);
    expect((await batch([item], false, api.keys.viewer)).status).toBe(403);
    expect((await batch([item], false, null)).status).toBe(401);
  });
});
