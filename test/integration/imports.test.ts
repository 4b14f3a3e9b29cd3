import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Activities } from '../../src/activities';
import { ok } from '../../src/client';
import { engineHelpers, okWith, refused, statusOf } from '../support/engine';
import { useProtocolStack } from '../support/stack';

/**
 * Statement imports end to end: the API parses and stores the file, the
 * importStatement workflow posts it on the real worker, and the ledger keys
 * make a re-import post nothing.
 */
const { api, h, db } = useProtocolStack({ wrapActivities: crashing });
/** Batches to fail once after they committed, as a worker dying before it reports would. */
let crashAfterCommit = 0;

function crashing(real: Activities): Activities {
  return {
    ...real,
    importPostBatch: async (req) => {
      const result = await real.importPostBatch(req);
      if (crashAfterCommit > 0 && result.processed > 0) {
        crashAfterCommit--;
        throw new Error('worker lost after the batch committed');
      }
      return result;
    },
  };
}

const sql = <T>(query: string, params: unknown[] = []) => db.orm.em.fork().execute<T[]>(query, params);
const entryCount = async (portfolioId: string) =>
  Number((await sql<{ n: string }>('select count(*) as n from journal_entries where portfolio_id = ?', [portfolioId]))[0]!.n);
const example = (name: string) => readFileSync(join(__dirname, '../../examples', name), 'utf8');

const portfolio = (openedAt = '2026-11-02') => h.portfolio('300000.00', {}, { name: 'Statements', openedAt });

async function mapBrokerIds(p: { gen: string; rev: string; com: string }) {
  for (const [id, broker] of [[p.gen, 'U7410021'], [p.rev, 'U7410022'], [p.com, 'U7410023']] as const) {
    const updated = await okWith(200, api.client.PATCH('/v1/accounts/{id}', { params: { path: { id } }, body: { brokerAccountId: broker, label: `IBKR ${broker}` } }));
    expect(updated).toMatchObject({ brokerAccountId: broker, label: `IBKR ${broker}` });
  }
}

/** Any upload, as is: malformed files, odd content types and the dry run (whose answer the API does not describe). */
async function upload(portfolioId: string, body: string, query = '', contentType = 'text/csv') {
  return api.call('POST', `/v1/portfolios/${portfolioId}/imports${query}`, { raw: body, headers: { 'content-type': contentType } });
}

type ImportQuery = Parameters<typeof h.importStatement>[3];
/** Uploads (202) and waits for the import workflow to end; returns the import. */
async function importFile(portfolioId: string, body: string, query: ImportQuery = {}, contentType = 'text/csv') {
  const started = await h.importStatement(portfolioId, body, contentType, query);
  const op = await h.waitFor(started.operationId);
  const imported = await h.importOf(started.importId);
  // On failure, say why: the run's steps and the import's error.
  if (op.status !== 'completed') throw new Error(`the import run ended ${op.status}: ${JSON.stringify({ op, imported })}`);
  expect(op.type).toBe('import');
  return imported;
}

const csv = (rows: string[]) => ['date,account,type,amount,reference,note', ...rows].join('\n');

describe('statement imports', () => {
  it('imports the examples, reconciles to the cent, and posts nothing on a re-import', async () => {
    const p = await portfolio();
    await mapBrokerIds(p);
    const flex = await importFile(p.id, example('ibkr-flex-november.xml'), {}, 'application/xml');
    expect(flex).toMatchObject({ status: 'completed', format: 'ibkr-flex', rejected: [], duplicates: 0, pending: 0 });
    expect(flex.posted).toBeGreaterThan(8);
    expect(flex.reconciliation).toHaveLength(1);
    expect(flex.reconciliation[0]).toMatchObject({ accountId: p.gen, brokerAccountId: 'U7410021', date: '2026-11-27', difference: '0.00' });
    expect(flex.valuations[0]).toMatchObject({ accountId: p.gen, date: '2026-11-27' });
    expect(flex.valuations[0]!.unrealized).not.toBe('0.00');

    const statement = await importFile(p.id, example('statement-november.csv'));
    expect(statement).toMatchObject({ status: 'completed', format: 'csv', rejected: [], duplicates: 0 });
    expect(statement.reconciliation.map((r) => [r.accountId, r.difference]).sort())
      .toEqual([[p.rev, '0.00'], [p.com, '0.00']].sort());
    // The engine's balance today is the statement's balance: nothing was posted after the 27th.
    for (const r of [...flex.reconciliation, ...statement.reconciliation]) expect((await h.account(r.accountId)).balance).toBe(r.statementBalance);

    const entries = await entryCount(p.id);
    const again = await importFile(p.id, example('ibkr-flex-november.xml'), {}, 'application/xml');
    expect(again).toMatchObject({ posted: 0, duplicates: flex.posted, rejected: [] });
    const againCsv = await importFile(p.id, example('statement-november.csv'));
    expect(againCsv).toMatchObject({ posted: 0, duplicates: statement.posted });
    expect(await entryCount(p.id)).toBe(entries);
    expect((await h.integrity(p.id)).ok).toBe(true);

    const listed = await ok(api.client.GET('/v1/portfolios/{id}/imports', { params: { path: { id: p.id } } }));
    expect(listed.items).toHaveLength(4);
    const valuation = await sql<{ value: string }>('select value from valuations where account_id = ?', [p.gen]);
    expect(valuation).toHaveLength(1);
  });

  it('posts an overlapping statement once: only the new lines are posted', async () => {
    const p = await portfolio();
    const line = (i: number) => `2026-11-${String(3 + i).padStart(2, '0')},${p.gen},premium,${100 + i}.25,GEN-${i},week ${i}`;
    const first = await importFile(p.id, csv([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(line)));
    expect(first).toMatchObject({ lines: 10, posted: 10, duplicates: 0 });
    const second = await importFile(p.id, csv([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map(line)));
    expect(second).toMatchObject({ lines: 11, posted: 5, duplicates: 6 });
    const expected = [...Array(15).keys()].reduce((s, i) => s + 100 + i + 1 + 0.25, 120000);
    expect((await h.account(p.gen)).balance).toBe(expected.toFixed(2));
  });

  it('reports each bad line with its number and reason, and posts the rest', async () => {
    const p = await portfolio();
    const res = await importFile(p.id, csv([
      `2026-11-05,${p.gen},premium,1500.00,OK-1,`,
      `2026-11-05,U0000000,premium,10.00,BAD-1,unknown account`,
      `2026-11-05,${p.gen},premium,12.345,BAD-2,`,
      `2026-11-05,${p.gen},bonus,10.00,BAD-3,`,
      `2099-01-01,${p.gen},premium,10.00,BAD-4,`,
      `2026-11-06,${p.com},withdrawal,10.00,BAD-5,a Com-Acc never pays out`,
      `2026-11-27,${p.gen},statement_balance,121400.00,,`,
    ]));
    expect(res.posted).toBe(1);
    expect(res.rejected.map((r) => r.line)).toEqual([3, 4, 5, 6, 7]);
    expect(res.rejected[0]!.reason).toContain('unknown account "U0000000"');
    expect(res.rejected[4]!.reason).toMatch(/Com-Acc/);
    expect(res.reconciliation[0]).toMatchObject({ statementBalance: '121400.00', engineBalance: '121500.00', difference: '-100.00' });
  });

  it('atomic: one bad line and nothing posts; the fixed file posts whole', async () => {
    const p = await portfolio();
    const before = await entryCount(p.id);
    const bad = await importFile(p.id, csv([
      `2026-11-05,${p.gen},premium,1500.00,AT-1,`,
      `2026-11-06,${p.com},withdrawal,10.00,AT-2,`,
      `2026-11-07,${p.gen},premium,900.00,AT-3,`,
    ]), { atomic: 'true' });
    expect(bad).toMatchObject({ status: 'failed', posted: 0 });
    expect(bad.error).toContain('nothing was posted');
    expect(bad.rejected.map((r) => r.line)).toEqual([3]);
    expect(bad.pending).toBe(0);
    const statuses = await sql<{ seq: number; status: string }>('select seq, status from import_lines where import_id = ? order by seq', [bad.id]);
    expect(statuses.map((l) => l.status)).toEqual(['not_posted', 'rejected', 'not_posted']);
    expect(await entryCount(p.id)).toBe(before);
    // A dry run of the same file says the same: nothing would post.
    const dry = await upload(p.id, csv([
      `2026-11-05,${p.gen},premium,1500.00,AT-1,`,
      `2026-11-06,${p.com},withdrawal,10.00,AT-2,`,
    ]), '?atomic=true&dryRun=true');
    expect(dry.body).toMatchObject({ posted: 0, atomic: true });
    expect(dry.body.items.map((i: { status: string }) => i.status)).toEqual(['not_posted', 'rejected']);

    const good = await importFile(p.id, csv([
      `2026-11-05,${p.gen},premium,1500.00,AT-1,`,
      `2026-11-07,${p.gen},premium,900.00,AT-3,`,
    ]), { atomic: 'true' });
    expect(good).toMatchObject({ status: 'completed', posted: 2 });
    expect((await h.account(p.gen)).balance).toBe('122400.00');
  });

  it('keys a line by its account, not by how the file names it: mapping a broker id later posts nothing twice', async () => {
    const p = await portfolio();
    const first = await importFile(p.id, csv([`2026-11-05,${p.gen},premium,700.00,MAP-1,`, `2026-11-06,${p.gen},fee,1.05,MAP-2,`]));
    expect(first.posted).toBe(2);
    await mapBrokerIds(p);
    const again = await importFile(p.id, csv([`2026-11-05,U7410021,premium,700.00,MAP-1,`, `2026-11-06,U7410021,fee,1.05,MAP-2,`]));
    expect(again).toMatchObject({ posted: 0, duplicates: 2 });
    expect((await h.account(p.gen)).balance).toBe('120698.95');

    // The same broker account id in another portfolio is another account: its lines post there.
    const other = await portfolio();
    await mapBrokerIds(other);
    const theirs = await importFile(other.id, csv([`2026-11-05,U7410021,premium,700.00,MAP-1,`]));
    expect(theirs).toMatchObject({ posted: 1, duplicates: 0 });
  });

  it('reads a Flex Query written on one line: every record is stored and posted', async () => {
    const p = await portfolio();
    await mapBrokerIds(p);
    const oneLine = example('ibkr-flex-november.xml').replace(/>\s+</g, '><');
    expect(oneLine.split('\n').filter((l) => l.trim()).length).toBeLessThanOrEqual(2);
    const res = await importFile(p.id, oneLine, {}, 'application/xml');
    expect(res).toMatchObject({ status: 'completed', rejected: [] });
    expect(res.posted).toBe(21);
    expect(res.reconciliation[0]!.difference).toBe('0.00');
  });

  it('takes an upper-case portfolio id as the same portfolio: one audit chain, still intact', async () => {
    const p = await portfolio();
    const res = await importFile(p.id.toUpperCase(), csv([`2026-11-05,${p.gen.toUpperCase()},premium,5.00,UP-1,`]));
    expect(res).toMatchObject({ portfolioId: p.id, posted: 1 });
    expect(await sql(`select 1 from audit_log where chain <> lower(chain)`)).toHaveLength(0);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('marks a cancelled import failed, keeping what its batches posted', async () => {
    const p = await portfolio('2026-06-01');
    const rows = Array.from({ length: 3000 }, (_, i) => `2026-07-15,${p.gen},premium,1.00,CANCEL-${i},`);
    const res = await h.importStatement(p.id, csv(rows));
    expect(await statusOf(api.client.POST('/v1/operations/{operationId}/cancel', { params: { path: { operationId: res.operationId } } }))).toBe(202);
    const op = await h.waitFor(res.operationId);
    expect(op.status).toBe('cancelled');
    const view = await h.importOf(res.importId);
    expect(view).toMatchObject({ status: 'failed', error: 'the import stopped: cancelled by an operator' });
    // Whatever committed is posted exactly once: the account holds exactly the posted lines.
    expect((await h.account(p.gen)).balance).toBe((120000 + view.posted).toFixed(2));
  });

  it('dry run: answers what would be posted and stores nothing', async () => {
    const p = await portfolio();
    const before = await entryCount(p.id);
    const res = await upload(p.id, csv([
      `2026-11-05,${p.rev},premium,800.00,DR-1,`,
      `2026-11-05,${p.rev},fee,1.50,DR-2,`,
      `2026-11-06,${p.rev},statement_balance,90798.50,,`,
    ]), '?dryRun=true');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ dryRun: true, lines: 3, posted: 2, duplicates: 0, rejected: [] });
    expect(res.body.items.map((i: { status: string; amount: string }) => [i.status, i.amount])).toEqual([['posted', '800.00'], ['posted', '1.50']]);
    expect(res.body.reconciliation[0]).toMatchObject({ difference: '0.00', engineBalance: '90798.50' });
    expect(await entryCount(p.id)).toBe(before);
    expect(await sql('select 1 from imports where portfolio_id = ?', [p.id])).toHaveLength(0);
  });

  it('refuses a malformed file with 400 and the first error, storing nothing', async () => {
    const p = await portfolio();
    const broken = await upload(p.id, 'date,account,type,amount,reference,note\n2026-11-05,x,premium,"10.00,R,\n');
    expect(broken.status).toBe(400);
    expect(broken.body.detail).toMatch(/not a valid csv statement: .*line/i);
    const noColumn = await upload(p.id, 'date,account,type\n2026-11-05,x,premium\n');
    expect(noColumn.status).toBe(400);
    expect(noColumn.body.detail).toContain('amount');
    const xml = await upload(p.id, '<FlexQueryResponse><FlexStatements>', '', 'application/xml');
    expect(xml.status).toBe(400);
    expect((await upload(p.id, '{"a":1}', '', 'application/json')).status).toBe(415);
    const nul = await upload(p.id, csv([`2026-11-05,${p.gen},premium,1.00,N-1,ok`, `2026-11-05,${p.gen},premium,1.00,N-2,bad\u0000note`]));
    expect(nul.status).toBe(400);
    expect(nul.body.detail).toContain('line 3: a NUL character');
    expect((await upload(p.id, csv([]), '?format=excel')).status).toBe(400);
    expect((await refused(engineHelpers(api.as('viewer')).importStatement(p.id, csv([])))).status).toBe(403);
    expect(await sql('select 1 from imports where portfolio_id = ?', [p.id])).toHaveLength(0);
  });

  it('survives a batch whose worker died after it committed: every line posts exactly once', async () => {
    const p = await portfolio('2026-06-01');
    const rows = Array.from({ length: 1200 }, (_, i) => `2026-${String(7 + Math.floor(i / 300)).padStart(2, '0')}-15,${p.gen},premium,1.${String(i % 100).padStart(2, '0')},BULK-${i},`);
    crashAfterCommit = 2;
    const res = await importFile(p.id, csv(rows));
    expect(crashAfterCommit).toBe(0);
    expect(res).toMatchObject({ status: 'completed', lines: 1200, posted: 1200, duplicates: 0, rejected: [] });
    const total = rows.reduce((s, _, i) => s + 100 + (i % 100), 0);
    expect((await h.account(p.gen)).balance).toBe((120000 + total / 100).toFixed(2));
    const op = await h.operation(res.operationId);
    expect(op.steps.map((s) => s.name)).toEqual(['begin', 'post lines 2-501', 'post lines 502-1001', 'post lines 1002-1201', 'reconcile and finish']);
  });
});
