/**
 * The chaos run's end checks (chaos/verify.ts) catch what they are there to
 * catch: a step that moved money twice, a broker step done twice, a posting
 * missing, doubled in amount, or landed although refused. Each is made by
 * hand on a real database and must be reported; the clean state must not be.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { checkPostings, duplicates } from '../../chaos/verify';
import { money } from '../../src/domain/money';
import { LedgerService } from '../../src/ledger/ledger';
import { AccountService } from '../../src/services/accounts';
import { PortfolioService } from '../../src/services/portfolios';
import { createTestDatabase } from '../support/db';

let db: { orm: MikroORM; close(): Promise<void> };
let ledger: LedgerService;
let portfolioId: string;
let gen: string;
let holding: string;

beforeAll(async () => {
  db = await createTestDatabase(4);
  ledger = new LedgerService(db.orm);
  const p = await new PortfolioService(db.orm, ledger).create({ name: 'checks', owner: 'test', initialCapital: money('300000.00'), template: 'moderate' }, 'test');
  portfolioId = p.id;
  gen = p.units[0]!.accounts.find((a) => a.type === 'gen')!.id;
  const [row] = await db.orm.em.fork().execute<{ id: string }[]>(`select id from accounts where portfolio_id = ? and type = 'holding'`, [portfolioId]);
  holding = row!.id;
});
afterAll(() => db.close());

/** A fork's first money step, as the workflow posts it, under attempt `attempt` of operation `op`. */
const debitParent = (op: string, attempt: number) => ledger.post({
  idempotencyKey: `fork:${gen}:1:a${attempt}:debit-parent`, compensable: true, portfolioId, kind: 'fork.debit-parent', actor: 'test', operationId: op,
  accountIds: [gen, holding],
  plan: () => ({ legs: [{ accountId: gen, bucket: 'cash', amount: money('10.00').neg() }, { accountId: holding, bucket: 'cash', amount: money('10.00') }] }),
});

describe('chaos checks: money moved twice', () => {
  it('reports two live forward entries of one kind in one operation, and not once one is reversed', async () => {
    const op = `fork-${gen}-1`;
    await debitParent(op, 1);
    expect((await duplicates(db.orm)).filter((d) => d.startsWith(op))).toEqual([]);
    await debitParent(op, 2);
    expect(await duplicates(db.orm)).toContain(`${op}: 2 live 'fork.debit-parent' entries`);
    await ledger.reverse({ forwardKey: `fork:${gen}:1:a1:debit-parent`, actor: 'test', operationId: op });
    expect((await duplicates(db.orm)).filter((d) => d.startsWith(op))).toEqual([]);
  });

  it('reports a broker transfer settled under two attempts of one step', async () => {
    const em = db.orm.em.fork();
    const insert = (attempt: number) => em.execute(
      `insert into broker_transfers (idempotency_key, from_account_id, to_account_id, amount, status) values (?, ?, ?, '5.00', 'settled')`,
      [`fork:${gen}:7:a${attempt}:transfer-gen`, gen, holding],
    );
    await insert(1);
    expect((await duplicates(db.orm)).some((d) => d.includes(`fork:${gen}:7:transfer-gen`))).toBe(false);
    await insert(2);
    expect(await duplicates(db.orm)).toContain(`broker step fork:${gen}:7:transfer-gen: done 2 times`);
  });
});

describe('chaos checks: postings', () => {
  it('passes a key answered 201 with its one entry, and reports a missing, a wrong-amount, a refused-but-landed and an unanswered key', async () => {
    const accounts = new AccountService(db.orm, ledger);
    await accounts.recordActivity(gen, { type: 'premium', amount: money('12.34') }, 'landed', 'test');
    await accounts.recordActivity(gen, { type: 'premium', amount: money('1.00') }, 'refused-yet-landed', 'test');
    const base = { accountId: gen, type: 'premium' as const };
    const clean = await checkPostings(db.orm, [{ ...base, key: 'landed', amount: '12.34', answer: 201 }, { ...base, key: 'never-sent', amount: '1.00', answer: 422 }]);
    expect(clean).toEqual({ attempted: 2, landed: 1, refused: 1, problems: [] });

    const bad = await checkPostings(db.orm, [
      { ...base, key: 'missing', amount: '1.00', answer: 201 },
      { ...base, key: 'landed', amount: '24.68', answer: 201 },
      { ...base, key: 'refused-yet-landed', amount: '1.00', answer: 409 },
      { ...base, key: 'no-answer', amount: '1.00', lastFailure: 'HTTP 500' },
    ]);
    expect(bad.problems).toEqual([
      'missing: answered 201, 0 entries',
      'landed: answered 201, moved 12.34 instead of 24.68',
      'refused-yet-landed: answered 409, yet 1 entries',
      'no-answer: never answered (not landed; last try: HTTP 500)',
    ]);
  });
});
