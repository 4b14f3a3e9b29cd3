import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { appendAudit, appendAuditMany, chainOf, verifyChain } from '../../src/audit/audit';
import { BUCKETS, debitDelta } from '../../src/domain/buckets';
import { DomainError } from '../../src/domain/errors';
import { Dec, money } from '../../src/domain/money';
import { type EntryPlan, LedgerService, type Leg, type LockedAccount, type PostRequest, TERMINAL_STATUSES } from '../../src/ledger/ledger';
import { AccountService } from '../../src/services/accounts';
import { IntegrityService } from '../../src/services/integrity';
import { PortfolioService } from '../../src/services/portfolios';
import { createTestDatabase } from '../support/db';

/*
 * The one-statement post (ledger_post) against the multi-statement path it
 * replaced for single entries (postManyIn, still the batch path): the same
 * refusals with the same errors, nothing written by a refused entry, and the
 * same guarantees under concurrency. The SQL function is also called directly
 * with what the TypeScript checks would never send, so it stands on its own.
 */

let db: { orm: MikroORM; close(): Promise<void> };
let ledger: LedgerService;
let services: { portfolios: PortfolioService; accounts: AccountService; integrity: IntegrityService };

beforeAll(async () => {
  db = await createTestDatabase(30);
  ledger = new LedgerService(db.orm);
  services = { portfolios: new PortfolioService(db.orm, ledger), accounts: new AccountService(db.orm, ledger), integrity: new IntegrityService(db.orm) };
});
afterAll(() => db.close());

const newPortfolio = async () => {
  const p = await services.portfolios.create({ name: 'P', owner: 'o', initialCapital: money('300000.00'), template: 'moderate' }, 'test');
  const acct = (t: string) => p.units[0]!.accounts.find((a) => a.type === t)!.id;
  const [ext] = await db.orm.em.fork().execute<{ id: string }[]>(`select id from accounts where portfolio_id = ? and type = 'external'`, [p.id]);
  return { p, gen: acct('gen'), rev: acct('rev'), com: acct('com'), ext: ext!.id };
};

let keys = 0;
const key = (label: string) => `t:${label}:${keys++}`;
const legs = (...l: [string, (typeof BUCKETS)[number], string][]): Leg[] => l.map(([accountId, bucket, amount]) => ({ accountId, bucket, amount: new Dec(amount) }));
const fixed = (portfolioId: string, accountIds: string[], plan: EntryPlan, extra: Partial<PostRequest> = {}): PostRequest => ({
  idempotencyKey: key('fixed'), portfolioId, kind: 'test', actor: 'test', accountIds, plan, ...extra,
});

/** Everything a refused entry could have written: rows counted across the tables a post writes. */
async function footprint(): Promise<string> {
  const [row] = await db.orm.em.fork().execute<{ f: string }[]>(
    `select (select count(*) from journal_entries) || '/' || (select count(*) from postings) || '/' || (select count(*) from audit_log) || '/' ||
            (select count(*) from idempotent_requests) || '/' || (select sum(version) from accounts) as f`,
  );
  return row!.f;
}

/** What the batch path (the code every single post went through before) says about the same request, rolled back. */
async function oldPathError(req: PostRequest): Promise<DomainError> {
  const em = db.orm.em.fork();
  let error: unknown;
  await em.transactional(async (tx) => {
    try {
      await ledger.postManyIn(tx, [{ ...req }], { atomic: true });
    } catch (err) {
      error = err;
    }
    throw new Rollback();
  }).catch((err: unknown) => {
    if (!(err instanceof Rollback)) throw err;
  });
  if (!(error instanceof DomainError)) throw new Error(`the old path did not refuse: ${String(error)}`);
  return error;
}
class Rollback extends Error {}

async function refusedAlike(req: PostRequest): Promise<DomainError> {
  const before = await footprint();
  const refused = await ledger.post(req).then(() => null, (err: unknown) => err);
  expect(refused).toBeInstanceOf(DomainError);
  const old = await oldPathError(req);
  const e = refused as DomainError;
  expect({ type: e.type, message: e.message, details: e.details }).toEqual({ type: old.type, message: old.message, details: old.details });
  expect(await footprint()).toBe(before);
  return e;
}

describe('ledger_post refuses what a post refused before, and writes nothing then', () => {
  it('an unbalanced entry', async () => {
    const { p, gen, ext } = await newPortfolio();
    const e = await refusedAlike(fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '10.00'], [ext, 'cash', '-9.99']) }));
    expect(e).toMatchObject({ type: 'InvariantViolation', message: 'entry is unbalanced by 0.01' });
  });

  it('a bucket that would go negative (fixed plan and plan made from the balances)', async () => {
    const { p, com, ext } = await newPortfolio();
    // Com holds 4,500.00 cash (5% buffer of 90,000.00).
    const e = await refusedAlike(fixed(p.id, [com, ext], { legs: legs([com, 'cash', '-4500.01'], [ext, 'cash', '4500.01']) }));
    expect(e).toMatchObject({ type: 'InsufficientFunds', message: 'the cash bucket would go negative', details: { accountId: com } });
    const debit = (amount: string): PostRequest => ({
      ...fixed(p.id, [com, ext], { legs: [] }),
      // Deliberately wrong: takes everything from cash, so the check (not debitDelta) refuses it.
      plan: () => ({ legs: legs([com, 'cash', `-${amount}`], [ext, 'cash', amount]) }),
    });
    await refusedAlike(debit('5000.00'));
  });

  it('a base balance that would go negative', async () => {
    const { p, gen, ext } = await newPortfolio();
    const e = await refusedAlike(fixed(p.id, [gen, ext], {
      legs: legs([gen, 'cash', '1.00'], [ext, 'cash', '-1.00']), baseBalanceChanges: [{ accountId: gen, delta: new Dec('-120000.01') }],
    }));
    expect(e).toMatchObject({ type: 'InvariantViolation', message: 'base balance would go negative' });
  });

  it('an account whose life is over, for every terminal status', async () => {
    for (const status of TERMINAL_STATUSES) {
      const { p, gen, rev } = await newPortfolio();
      await db.orm.em.fork().execute('update accounts set status = ? where id = ?', [status, rev]);
      const e = await refusedAlike(fixed(p.id, [gen, rev], { legs: legs([gen, 'cash', '1.00'], [rev, 'cash', '-1.00']) }));
      expect(e).toMatchObject({ type: 'InvariantViolation', message: `account ${rev} is ${status}; no money moves to or from it` });
    }
  });

  it('an entry spanning two portfolios', async () => {
    const a = await newPortfolio();
    const b = await newPortfolio();
    const e = await refusedAlike(fixed(a.p.id, [a.gen, b.gen], { legs: legs([a.gen, 'cash', '1.00'], [b.gen, 'cash', '-1.00']) }));
    expect(e).toMatchObject({ type: 'InvariantViolation', message: 'an entry cannot span portfolios' });
  });

  it('amounts that are not whole cents, a single posting, a posting on an account not named, a missing account', async () => {
    const { p, gen, rev, ext } = await newPortfolio();
    expect(await refusedAlike(fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '1.005'], [ext, 'cash', '-1.005']) })))
      .toMatchObject({ message: 'a posting is a non-zero amount in cents', details: { amount: '1.005' } });
    expect(await refusedAlike(fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '0'], [ext, 'cash', '0']) })))
      .toMatchObject({ message: 'a posting is a non-zero amount in cents' });
    // A base-balance change is whole cents too: refused, never rounded into the journal.
    expect(await refusedAlike(fixed(p.id, [gen, ext], {
      legs: legs([gen, 'cash', '1.00'], [ext, 'cash', '-1.00']), baseBalanceChanges: [{ accountId: gen, delta: new Dec('0.005') }],
    }))).toMatchObject({ message: 'a posting is a non-zero amount in cents', details: { amount: '0.005' } });
    expect(await refusedAlike(fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '1.00']) })))
      .toMatchObject({ message: 'an entry needs at least two postings' });
    expect(await refusedAlike(fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '1.00'], [rev, 'cash', '-1.00']) })))
      .toMatchObject({ message: 'posting to an account that is not locked', details: { id: rev } });
    const missing = '0190b6f0-0000-7000-8000-0000000000ff';
    expect(await refusedAlike(fixed(p.id, [gen, missing], { legs: legs([gen, 'cash', '1.00'], [missing, 'cash', '-1.00']) })))
      .toMatchObject({ type: 'AccountNotFound', details: { accountId: missing } });
  });

  it('a compensable step whose undo already ran', async () => {
    const { p, gen, ext } = await newPortfolio();
    const step = fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '5.00'], [ext, 'cash', '-5.00']) }, { compensable: true });
    // The undo first: the forward step never landed, so it leaves a tombstone.
    expect(await ledger.reverse({ forwardKey: step.idempotencyKey, actor: 'test' })).toEqual({ reversalEntryId: null });
    await expect(ledger.post(step)).rejects.toMatchObject({ type: 'Compensated', details: { key: step.idempotencyKey } });
    const reading = { ...step, plan: () => ({ legs: legs([gen, 'cash', '5.00'], [ext, 'cash', '-5.00']) }) };
    await expect(ledger.post(reading)).rejects.toMatchObject({ type: 'Compensated' });
  });
});

describe('ledger_post keeps the guarantees of a post', () => {
  it('answers a repeated key with the first entry and changes nothing, even when the plan would now be refused', async () => {
    const { p, com, ext } = await newPortfolio();
    const k = key('dup');
    const first = await ledger.post(fixed(p.id, [com, ext], { legs: legs([com, 'cash', '-4500.00'], [ext, 'cash', '4500.00']) }, { idempotencyKey: k }));
    expect(first.created).toBe(true);
    const before = await footprint();
    // Cash is now 0: the same key again would be refused on its merits, but it already posted.
    const again = await ledger.post(fixed(p.id, [com, ext], { legs: legs([com, 'cash', '-4500.00'], [ext, 'cash', '4500.00']) }, { idempotencyKey: k }));
    expect(again).toEqual({ entryId: first.entryId, created: false });
    const reading = await ledger.post({ ...fixed(p.id, [com, ext], { legs: [] }), idempotencyKey: k, plan: () => { throw new DomainError('NotEligible', 'would refuse'); } });
    expect(reading).toEqual({ entryId: first.entryId, created: false });
    const inTx = await db.orm.em.fork().transactional((em) => ledger.postIn(em, { ...fixed(p.id, [com, ext], { legs: [] }), idempotencyKey: k, plan: () => { throw new Error('not called'); } }));
    expect(inTx).toEqual({ entryId: first.entryId, created: false });
    expect(await footprint()).toBe(before);
  });

  it('posts once for 20 concurrent posts with the same key (fixed plans and plans made from the balances)', async () => {
    const { p, gen, ext } = await newPortfolio();
    for (const reads of [false, true]) {
      const k = key('same');
      const plan: EntryPlan = { legs: legs([gen, 'cash', '7.00'], [ext, 'cash', '-7.00']) };
      const results = await Promise.all(Array.from({ length: 20 }, () =>
        ledger.post({ ...fixed(p.id, [gen, ext], plan), idempotencyKey: k, ...(reads && { plan: () => plan }) })));
      expect(new Set(results.map((r) => r.entryId)).size).toBe(1);
      expect(results.filter((r) => r.created)).toHaveLength(1);
    }
    const [n] = await db.orm.em.fork().execute<{ n: string }[]>(`select count(*) as n from journal_entries where portfolio_id = ? and kind = 'test'`, [p.id]);
    expect(n!.n).toBe('2');
    expect((await services.accounts.get(gen)).buckets.cash).toBe('6014.00');
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('never lets concurrent debits planned from the balances overdraw: exactly the affordable ones land', async () => {
    const { p, com, ext } = await newPortfolio();
    // Com holds 90,000.00 (4,500.00 cash, 85,500.00 contracts); 12 debits of 8,000.00 = 96,000.00, so exactly 11 fit.
    const debit = (): PostRequest => ({
      ...fixed(p.id, [com, ext], { legs: [] }),
      plan: (locked) => {
        const delta = debitDelta(locked.get(com)!.buckets, money('8000.00'));
        return { legs: [...BUCKETS.filter((b) => delta[b]).map((b) => ({ accountId: com, bucket: b, amount: delta[b]! })), { accountId: ext, bucket: 'cash', amount: money('8000.00') }] };
      },
    });
    const settled = await Promise.allSettled(Array.from({ length: 12 }, () => ledger.post(debit())));
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(11);
    expect((settled.filter((s) => s.status === 'rejected') as PromiseRejectedResult[]).map((r) => (r.reason as DomainError).type)).toEqual(['InsufficientFunds']);
    const after = await services.accounts.get(com);
    expect(after.balance).toBe('2000.00');
    expect(Object.values(after.buckets).every((v) => new Dec(v).gte(0))).toBe(true);
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('plans again from the balances when the accounts it was planned from moved before the lock', async () => {
    const { p, com, ext } = await newPortfolio();
    const [row] = await db.orm.em.fork().execute<{ version: number; cash: string; contracts: string }[]>('select version, cash, contracts from accounts where id = ?', [com]);
    // Someone takes 4,000.00 of the 4,500.00 cash after our read.
    await ledger.post(fixed(p.id, [com, ext], { legs: legs([com, 'cash', '-4000.00'], [ext, 'cash', '4000.00']) }));
    const stale = new Map<string, LockedAccount & { version: number }>([
      [com, { id: com, portfolioId: p.id, unitId: null, type: 'com', status: 'active', baseBalance: new Dec('90000.00'), createdAt: new Date(), version: row!.version,
        buckets: { cash: new Dec(row!.cash), contracts: new Dec(row!.contracts), leaps: new Dec(0), reserve: new Dec(0) } }],
      [ext, { id: ext, portfolioId: p.id, unitId: null, type: 'external', status: 'active', baseBalance: new Dec(0), createdAt: new Date(), version: 1,
        buckets: { cash: new Dec(0), contracts: new Dec(0), leaps: new Dec(0), reserve: new Dec(0) } }],
    ]);
    const seenBy: string[] = [];
    const posted = await ledger.post({
      ...fixed(p.id, [com, ext], { legs: [] }),
      plan: (locked) => {
        const buckets = locked.get(com)!.buckets;
        seenBy.push(buckets.cash.toFixed(2));
        const delta = debitDelta(buckets, money('1000.00'));
        return { legs: [...BUCKETS.filter((b) => delta[b]).map((b) => ({ accountId: com, bucket: b, amount: delta[b]! })), { accountId: ext, bucket: 'cash', amount: money('1000.00') }] };
      },
    }, { seen: stale });
    expect(posted.created).toBe(true);
    // Planned first from the stale read (4,500.00 cash), refused as stale, planned again from 500.00.
    expect(seenBy).toEqual(['4500.00', '500.00']);
    const after = await services.accounts.get(com);
    expect(after.buckets).toMatchObject({ cash: '0.00', contracts: new Dec(row!.contracts).minus('500.00').toFixed(2) });
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('inside a caller transaction: the entry commits or rolls back with it', async () => {
    const { p, gen, ext } = await newPortfolio();
    const before = await footprint();
    await db.orm.em.fork().transactional(async (em) => {
      await ledger.postIn(em, fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '3.00'], [ext, 'cash', '-3.00']) }));
      await ledger.postIn(em, { ...fixed(p.id, [gen, ext], { legs: [] }), plan: () => ({ legs: legs([gen, 'cash', '4.00'], [ext, 'cash', '-4.00']) }) });
      throw new Rollback();
    }).catch((err: unknown) => {
      if (!(err instanceof Rollback)) throw err;
    });
    expect(await footprint()).toBe(before);
    await db.orm.em.fork().transactional(async (em) => {
      await ledger.postIn(em, fixed(p.id, [gen, ext], { legs: legs([gen, 'cash', '3.00'], [ext, 'cash', '-3.00']) }));
      await ledger.postIn(em, { ...fixed(p.id, [gen, ext], { legs: [] }), plan: () => ({ legs: legs([gen, 'cash', '4.00'], [ext, 'cash', '-4.00']) }) });
    });
    expect((await services.accounts.get(gen)).buckets.cash).toBe('6007.00');
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });
});

describe('ledger_post called directly stands on its own', () => {
  const call = async (em: EntityManager, arg: Record<string, unknown>) =>
    (await em.execute<{ r: { status: string; code?: string } }[]>('select ledger_post(?::jsonb) as r', [JSON.stringify(arg)]))[0]!.r;
  const audit = { chain: 'x', actor: 'test', action: 'x', targetType: null, targetId: null, portfolioId: null, details: '{}', head: '', middle: '', tail: '' };

  it('refuses an unbalanced, fractional, one-sided or foreign entry that the TypeScript checks would have stopped, writing nothing', async () => {
    const { p, gen, rev, com, ext } = await newPortfolio();
    const other = await newPortfolio();
    const entry = (legsOf: { accountId: string; bucket: string; amount: string }[], accounts = [gen, ext], extra: Record<string, unknown> = {}) => ({
      key: key('direct'), entryId: '0190b6f0-0000-7000-8000-0000000000aa', portfolioId: p.id, kind: 'x', actor: 'test',
      accounts: accounts.map((id) => ({ id })), legs: legsOf, baseChanges: [], audit: { ...audit, chain: p.id, portfolioId: p.id }, ...extra,
    });
    const before = await footprint();
    const em = db.orm.em.fork();
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '5.00' }, { accountId: ext, bucket: 'cash', amount: '-4.00' }])))
      .toMatchObject({ status: 'refused', code: 'unbalanced', total: '1.00' });
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '0.001' }, { accountId: ext, bucket: 'cash', amount: '-0.001' }])))
      .toMatchObject({ status: 'refused', code: 'not_cents' });
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '5.00' }]))).toMatchObject({ status: 'refused', code: 'too_few_legs' });
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '5.00' }, { accountId: rev, bucket: 'cash', amount: '-5.00' }])))
      .toMatchObject({ status: 'refused', code: 'not_locked', accountId: rev });
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '5.00' }, { accountId: other.gen, bucket: 'cash', amount: '-5.00' }], [gen, other.gen])))
      .toMatchObject({ status: 'refused', code: 'cross_portfolio' });
    expect(await call(em, entry([{ accountId: com, bucket: 'contracts', amount: '-85500.01' }, { accountId: ext, bucket: 'cash', amount: '85500.01' }], [com, ext])))
      .toMatchObject({ status: 'refused', code: 'negative_bucket', accountId: com, bucket: 'contracts' });
    expect(await call(em, entry([{ accountId: gen, bucket: 'cash', amount: '1.00' }, { accountId: ext, bucket: 'cash', amount: '-1.00' }], [gen, ext],
      { baseChanges: [{ accountId: gen, delta: '-0.001' }] }))).toMatchObject({ status: 'refused', code: 'not_cents' });
    // A plan made from a version the account no longer has.
    expect(await call(em, { ...entry([{ accountId: gen, bucket: 'cash', amount: '1.00' }, { accountId: ext, bucket: 'cash', amount: '-1.00' }]),
      accounts: [{ id: gen, version: 0, status: 'active' }, { id: ext }] })).toEqual({ status: 'stale', accountId: gen });
    expect(await footprint()).toBe(before);
  });
});

describe('audit rows chained by the database', () => {
  it('verify like the ones chained in TypeScript, interleaved on one chain, whatever the text', async () => {
    const { p } = await newPortfolio();
    const tricky = { note: 'quote " backslash \\ newline \n tab \t é 漢字 🙂 \u0001', n: 12, list: [1.5, 'x', null, true], nested: { b: 1, a: { d: [], c: {} } } };
    await db.orm.em.fork().transactional(async (em) => {
      await appendAudit(em, { actor: 'actor "é"', portfolioId: p.id, action: 'test.sql', targetType: 't', targetId: 'ü', details: tricky });
      await appendAuditMany(em, [{ actor: 'a', portfolioId: p.id, action: 'test.ts', details: tricky }, { actor: 'b', portfolioId: p.id, action: 'test.ts' }]);
      await appendAudit(em, { actor: 'c', portfolioId: p.id, action: 'test.sql' });
    });
    await appendAudit(db.orm.em.fork(), { actor: 'd', portfolioId: p.id, action: 'test.sql', details: { at: new Date(0).toISOString() } });
    const report = await verifyChain(db.orm.em.fork(), chainOf(p.id));
    expect(report).toMatchObject({ ok: true });
    // Opening: portfolio.created + the opening entry, then the five above.
    expect(report.rows).toBe(7);
    const actions = await db.orm.em.fork().execute<{ action: string }[]>('select action from audit_log where chain = ? order by seq', [p.id]);
    expect(actions.map((a) => a.action)).toEqual(['portfolio.created', 'ledger.entry.posted', 'test.sql', 'test.ts', 'test.ts', 'test.sql', 'test.sql']);
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });
});

describe('an activity request over the one-statement post', () => {
  it('stores the response with the entry and answers a repeat exactly as the first time', async () => {
    const { p, gen } = await newPortfolio();
    const first = await services.accounts.recordActivity(gen, { type: 'premium', amount: money('12.34'), reference: 'R1' }, 'act-1', 'test');
    expect(first.replayed).toBe(false);
    expect(first.body.account).toMatchObject({ id: gen, balance: '120012.34', buckets: { cash: '6012.34' }, bufferRequired: '6000.62' });
    // Built from the row ledger_post stored: the same view as reading the account.
    expect(first.body.account).toEqual(await services.accounts.get(gen));
    // Something else moves the account; the replay still says what the first answer said.
    await services.accounts.recordActivity(gen, { type: 'premium', amount: money('1.00') }, 'act-2', 'test');
    const again = await services.accounts.recordActivity(gen, { type: 'premium', amount: money('12.34'), reference: 'R1' }, 'act-1', 'test');
    expect(again).toEqual({ body: first.body, replayed: true });
    await expect(services.accounts.recordActivity(gen, { type: 'premium', amount: money('12.35'), reference: 'R1' }, 'act-1', 'test'))
      .rejects.toMatchObject({ type: 'IdempotencyConflict' });
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });

  it('still replays a response stored whole, as before the one-statement post', async () => {
    const { gen } = await newPortfolio();
    const first = await services.accounts.recordActivity(gen, { type: 'premium', amount: money('2.00') }, 'legacy', 'test');
    const scope = `activity:${gen}:legacy`;
    await db.orm.em.fork().execute('update idempotent_requests set response = ?::jsonb where scope = ?', [JSON.stringify(first.body), scope]);
    expect(await services.accounts.recordActivity(gen, { type: 'premium', amount: money('2.00') }, 'legacy', 'test')).toEqual({ body: first.body, replayed: true });
  });

  it('refuses on the rules as before and claims nothing, so the key can be used again', async () => {
    const { p, com, rev } = await newPortfolio();
    await expect(services.accounts.recordActivity(com, { type: 'withdrawal', amount: money('1.00') }, 'w-1', 'test')).rejects.toMatchObject({ type: 'WithdrawalNotAllowed' });
    await expect(services.accounts.recordActivity(rev, { type: 'fee', amount: money('90000.01') }, 'f-1', 'test')).rejects.toMatchObject({ type: 'InsufficientFunds' });
    await db.orm.em.fork().execute(`update accounts set status = 'suspended' where id = ?`, [rev]);
    await expect(services.accounts.recordActivity(rev, { type: 'premium', amount: money('1.00') }, 'f-1', 'test')).rejects.toMatchObject({ type: 'Conflict' });
    await db.orm.em.fork().execute(`update accounts set status = 'active' where id = ?`, [rev]);
    const ok = await services.accounts.recordActivity(rev, { type: 'fee', amount: money('90000.00') }, 'f-1', 'test');
    expect(ok.body.account.balance).toBe('0.00');
    expect((await services.integrity.check(p.id)).ok).toBe(true);
  });
});
