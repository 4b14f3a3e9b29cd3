import type { MikroORM } from '@mikro-orm/postgresql';
import { LedgerService } from '../../src/ledger/ledger';
import { AccountService } from '../../src/services/accounts';
import { IntegrityService } from '../../src/services/integrity';
import { PortfolioService } from '../../src/services/portfolios';
import { Dec, money } from '../../src/domain/money';
import { createTestDatabase } from '../support/db';

let db: { orm: MikroORM; close(): Promise<void> };
let services: { portfolios: PortfolioService; accounts: AccountService; integrity: IntegrityService };

beforeAll(async () => {
  db = await createTestDatabase(20);
  const ledger = new LedgerService(db.orm);
  services = { portfolios: new PortfolioService(db.orm, ledger), accounts: new AccountService(db.orm, ledger), integrity: new IntegrityService(db.orm) };
});
afterAll(() => db.close());

const newPortfolio = async () => {
  const p = await services.portfolios.create({ name: 'L', owner: 'o', initialCapital: money('300000.00'), template: 'moderate' }, 'test');
  const acct = (t: string) => p.units[0]!.accounts.find((a) => a.type === t)!;
  return { p, gen: acct('gen'), rev: acct('rev'), com: acct('com') };
};

describe('ledger under concurrency (real PostgreSQL)', () => {
  it('lands all 40 parallel postings on one account exactly', async () => {
    const { p, gen } = await newPortfolio();
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        services.accounts.recordActivity(gen.id, { type: 'premium', amount: money(`${i + 1}.01`) }, `par-${i}`, 'test'),
      ),
    );
    expect(new Set(results.map((r) => r.body.entryId)).size).toBe(40);
    // 1.01 + 2.01 + ... + 40.01 = 820 + 0.40
    const after = await services.accounts.get(gen.id);
    expect(after.balance).toBe('120820.40');
    expect(after.buckets.cash).toBe('6820.40');
    expect(after.version).toBe(42); // opening + 40 postings, starting at 1
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('posts one entry for 20 concurrent requests with the same key', async () => {
    const { p, rev } = await newPortfolio();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        services.accounts.recordActivity(rev.id, { type: 'premium', amount: money('100.00') }, 'same-key', 'test'),
      ),
    );
    expect(new Set(results.map((r) => r.body.entryId)).size).toBe(1);
    expect(results.filter((r) => !r.replayed).length).toBe(1);
    expect((await services.accounts.get(rev.id)).balance).toBe('90100.00');
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('never lets concurrent debits overdraw: exactly the affordable ones land', async () => {
    const { p, com } = await newPortfolio();
    // Com holds 90000.00; 12 fees of 8000.00 = 96000.00, so exactly 11 fit.
    const settled = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        services.accounts.recordActivity(com.id, { type: 'fee', amount: money('8000.00') }, `fee-${i}`, 'test'),
      ),
    );
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[];
    expect(ok).toHaveLength(11);
    expect(refused.map((r) => (r.reason as { type: string }).type)).toEqual(['InsufficientFunds']);
    const after = await services.accounts.get(com.id);
    expect(after.balance).toBe('2000.00');
    expect(Object.values(after.buckets).every((v) => new Dec(v).gte(0))).toBe(true);
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('keeps interleaved postings across two accounts of one portfolio consistent', async () => {
    const { p, gen, rev } = await newPortfolio();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        services.accounts.recordActivity(i % 2 ? gen.id : rev.id, { type: i % 3 ? 'premium' : 'fee', amount: money('10.00') }, `mix-${i}`, 'test'),
      ),
    );
    // 30 postings: i%3==0 are fees (10 of them), the rest premiums (20): net +100.00
    const g = await services.accounts.get(gen.id);
    const r = await services.accounts.get(rev.id);
    expect(new Dec(g.balance).plus(r.balance).toFixed(2)).toBe('210100.00');
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });
});

describe('database-level invariants', () => {
  it('refuses an unbalanced entry at commit, even written by hand', async () => {
    const { p, gen } = await newPortfolio();
    await expect(
      db.orm.em.fork().transactional(async (em) => {
        await em.execute(`insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, occurred_at)
          values ('0190b6f0-0000-7000-8000-00000000000a', ?, 'hand-1', 'x', 'test', now())`, [p.id]);
        await em.execute(`insert into postings (entry_id, account_id, bucket, amount) values ('0190b6f0-0000-7000-8000-00000000000a', ?, 'cash', 5)`, [gen.id]);
      }),
    ).rejects.toThrow(/unbalanced/);
  });

  it('refuses a posting added later to a balanced entry, and accepts a balanced one written in one statement', async () => {
    const { p, gen, rev } = await newPortfolio();
    const entry = '0190b6f0-0000-7000-8000-00000000000b';
    await db.orm.em.fork().transactional(async (em) => {
      await em.execute(`insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, occurred_at) values (?, ?, 'hand-2', 'x', 'test', now())`, [entry, p.id]);
      await em.execute(`insert into postings (entry_id, account_id, bucket, amount) values (?, ?, 'cash', 5), (?, ?, 'cash', -5)`, [entry, gen.id, entry, rev.id]);
    });
    await expect(
      db.orm.em.fork().execute(`insert into postings (entry_id, account_id, bucket, amount) values (?, ?, 'cash', 1)`, [entry, gen.id]),
    ).rejects.toThrow(/unbalanced by 1/);
  });

  it('keeps postings and the audit log append-only', async () => {
    const em = db.orm.em.fork();
    await expect(em.execute('update postings set amount = amount + 1')).rejects.toThrow(/append-only/);
    await expect(em.execute('delete from audit_log')).rejects.toThrow(/append-only/);
  });

  it('lets the integrity check catch a tampered cached balance and a tampered audit row', async () => {
    const { p, gen } = await newPortfolio();
    expect((await services.integrity.check(p.id)).ok).toBe(true);
    const em = db.orm.em.fork();
    await em.execute('update accounts set cash = cash + 0.01 where id = ?', [gen.id]);
    await em.execute('alter table audit_log disable trigger audit_log_append_only');
    await em.execute(`update audit_log set actor = 'mallory' where chain = ? and seq = 1`, [p.id]);
    await em.execute('alter table audit_log enable trigger audit_log_append_only');
    const report = await services.integrity.check(p.id);
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => !c.ok).map((c) => c.name);
    expect(failed).toEqual(['cached-balances-match-postings', 'audit-chain-intact']);
  });
});
