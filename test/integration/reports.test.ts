import { ok } from '../../src/client';
import { Dec } from '../../src/domain/money';
import { EARLIEST_REPORT_DAY, GROWTH_COLUMNS, PERIODS, SCOPES, addDays, periodCount, periodStartOf, todayUtc } from '../../src/reports/growth';
import type { ActivityType, ForkSummary } from '../support/engine';
import { useProtocolStack } from '../support/stack';

const { api, h, db } = useProtocolStack();

const today = todayUtc();
const MONEY_COLUMNS = ['deposits', 'withdrawals', 'income', 'costs', 'forks', 'merges'] as const;
type Row = Record<(typeof GROWTH_COLUMNS)[number], string | null>;

/** Records a backdated activity (noon UTC of `day`), or a current one without a day. */
const activity = (accountId: string, type: ActivityType, amount: string, day?: string) =>
  h.activity(accountId, type, amount, day ? { occurredAt: `${day}T12:00:00Z` } : {});
const portfolio = (initialCapital: string, openedAt: string) => h.portfolio(initialCapital, {}, { name: 'Reports', openedAt });

/** The growth report with a query string as given (the validation tests send bad ones), as the viewer unless told. */
const growth = async (portfolioId: string, query: string, key: string | null = api.keys.viewer) =>
  api.call('GET', `/v1/portfolios/${portfolioId}/reports/growth?${query}`, { key });
const forksReport = (portfolioId: string) => ok(api.as('viewer').GET('/v1/portfolios/{id}/reports/forks', { params: { path: { id: portfolioId } } }));

/** The ledger's own answer, independent of the report: the scope's postings dated before the day after `day` (UTC). */
async function ledgerBalance(by: string, key: string, day: string): Promise<string> {
  const scope = by === 'portfolio' ? `a.portfolio_id = ? and a.type <> 'external'` : by === 'unit' ? 'a.unit_id = ?' : 'a.id = ?';
  const [row] = await db.orm.em.fork().execute<{ b: string }[]>(
    `select coalesce(sum(p.amount), 0) as b from postings p join journal_entries e on e.id = p.entry_id join accounts a on a.id = p.account_id
      where ${scope} and e.occurred_at < (?::date + 1)::timestamp at time zone 'UTC'`,
    [key, day],
  );
  return new Dec(row!.b).toFixed(2);
}

/** Every row: closing = the ledger at periodEnd, opening + columns = closing, and each opening = the balance the day before. */
async function checkRows(portfolioId: string, query: string) {
  const by = new URLSearchParams(query).get('by') ?? 'portfolio';
  const res = await growth(portfolioId, query);
  expect(res.status).toBe(200);
  const rows: Row[] = res.body.rows;
  expect(rows.length).toBeGreaterThan(0);
  for (const r of rows) {
    const columns = MONEY_COLUMNS.reduce((s, c) => s.plus(r[c]!), new Dec(r.opening!));
    expect([query, r.key, r.periodEnd, columns.toFixed(2)]).toEqual([query, r.key, r.periodEnd, r.closing]);
    expect([query, r.key, r.periodEnd, r.closing]).toEqual([query, r.key, r.periodEnd, await ledgerBalance(by, r.key!, r.periodEnd!)]);
    expect([query, r.key, r.periodStart, r.opening]).toEqual([query, r.key, r.periodStart, await ledgerBalance(by, r.key!, addDays(r.periodStart!, -1))]);
    expect(new Dec(r.withdrawals!).lte(0) && new Dec(r.costs!).lte(0)).toBe(true);
  }
  return res.body;
}

/** Minimal XML well-formedness: every tag known and nested, attributes quoted, every & an entity, one root. */
function expectWellFormedXml(xml: string) {
  const stackOfTags: string[] = [];
  let roots = 0;
  for (const [token] of xml.matchAll(/<[^>]*>|[^<]+/g)) {
    if (!token.startsWith('<')) {
      expect(token.replace(/&(amp|lt|gt|quot|apos|#\d+);/g, '')).not.toMatch(/[&<]/);
      continue;
    }
    const m = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(token);
    expect(m).not.toBeNull();
    const [, closing, name, attrs, selfClosing] = m!;
    expect(attrs!.replace(/&(amp|lt|gt|quot|apos|#\d+);/g, '')).not.toMatch(/&/);
    if (closing) expect(stackOfTags.pop()).toBe(name);
    else if (!selfClosing) {
      if (stackOfTags.length === 0) roots++;
      stackOfTags.push(name!);
    }
  }
  expect(stackOfTags).toEqual([]);
  expect(roots).toBe(1);
}

describe('growth report', () => {
  // A history of about seven months, backdated: every kind of activity, a reinvestment, a fork and (later) a merge.
  const d0 = addDays(today, -200);
  let p: Awaited<ReturnType<typeof portfolio>>;
  let fork: ForkSummary;

  beforeAll(async () => {
    p = await portfolio('300000.00', d0); // Gen 120000.00, Rev 90000.00, Com 90000.00
    await activity(p.gen, 'premium', '3000.00', addDays(d0, 10));
    await activity(p.rev, 'deposit', '20000.00', addDays(d0, 20));
    await activity(p.gen, 'fee', '500.00', addDays(d0, 35));
    await activity(p.rev, 'withdrawal', '1000.00', addDays(d0, 50));
    await activity(p.com, 'realized_loss', '2000.00', addDays(d0, 70));
    await activity(p.com, 'realized_gain', '1500.00', addDays(d0, 90));
    await activity(p.rev, 'premium', '2500.00', addDays(d0, 120));
    // Rev: cash 26000.00 on a balance of 111500.00, buffer 5575.00: 20425.00 reinvested now.
    expect((await h.reinvest(p.rev)).status).toBe('completed');
    // Gen: 120000 + 3000 − 500 + 57500 = 180000.00, surplus 60000.00: a fork of 30000.00 + 30000.00.
    await activity(p.gen, 'premium', '57500.00');
    fork = await h.forked(p.gen);
    await activity(fork.newGenAccountId, 'premium', '600.00'); // the forked unit: 60600.00
  });

  it('closes every row at the ledger balance of its period end, for every period and scope', async () => {
    for (const period of PERIODS) {
      for (const by of SCOPES) await checkRows(p.id, `period=${period}&by=${by}`);
    }
    // Clipped to a window: the first opening is the balance before `from`.
    const clipped = await checkRows(p.id, `period=month&by=unit&from=${addDays(d0, 15)}&to=${addDays(d0, 100)}`);
    expect(clipped.rows[0].periodStart).toBe(addDays(d0, 15));
    expect(clipped.rows[clipped.rows.length - 1].periodEnd).toBe(addDays(d0, 100));
  });

  it('reports each column by kind, and forks as flows between units that net to zero for the portfolio', async () => {
    const { body } = await growth(p.id, 'period=year&by=unit');
    const total = (unitId: string, column: string) =>
      body.rows.filter((r: Row) => r.key === unitId).reduce((s: Dec, r: Row) => s.plus(r[column as keyof Row]!), new Dec(0)).toFixed(2);
    expect(total(p.rootUnitId, 'deposits')).toBe('320000.00');
    expect(total(p.rootUnitId, 'withdrawals')).toBe('-1000.00');
    expect(total(p.rootUnitId, 'income')).toBe('64500.00'); // 3000 + 2500 + 1500 + 57500
    expect(total(p.rootUnitId, 'costs')).toBe('-2500.00');
    expect(total(p.rootUnitId, 'forks')).toBe('-60000.00');
    expect(total(p.rootUnitId, 'reinvested')).toBe('20425.00');
    expect(total(fork.newUnitId, 'forks')).toBe('60000.00');
    expect(total(fork.newUnitId, 'income')).toBe('600.00');
    // The forked unit's only flow is its funding: its TWR is its premium on 60000.00.
    expect(body.summary.find((s: { key: string }) => s.key === fork.newUnitId)).toMatchObject({ opening: '0.00', closing: '60600.00', twr: '0.010000' });

    const portfolioRows = (await growth(p.id, 'period=year&by=portfolio')).body.rows as Row[];
    expect(portfolioRows.every((r) => r.forks === '0.00' && r.merges === '0.00')).toBe(true);
    expect(portfolioRows[portfolioRows.length - 1]!.closing).toBe('381600.00');
  });

  it('answers CSV with a header and the same numbers, and SVG that is well-formed XML', async () => {
    const json = (await growth(p.id, 'period=month&by=account')).body;
    const csv = await growth(p.id, 'period=month&by=account&format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (csv.body as string).trimEnd().split('\n');
    expect(lines[0]).toBe(GROWTH_COLUMNS.join(','));
    expect(lines.slice(1).map((l) => l.split(','))).toEqual(
      json.rows.map((r: Row) => GROWTH_COLUMNS.map((c) => r[c] ?? '')),
    );

    // A label that needs escaping, set by hand.
    await db.orm.em.fork().execute(`update accounts set label = ? where id = ?`, ['Gen <&> "main"', p.gen]);
    const svg = await growth(p.id, 'period=week&by=account&format=svg');
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(svg.body).toMatch(/^<svg /);
    expectWellFormedXml(svg.body);
    expect(svg.body).toContain('Gen &lt;&amp;&gt; &quot;main&quot;');
    await db.orm.em.fork().execute(`update accounts set label = null where id = ?`, [p.gen]);
  });

  it('shows the latest valuation of the period beside the balance, and the unrealized difference', async () => {
    const month = periodStartOf(addDays(d0, 60), 'month');
    const [early, late] = [addDays(month, 4), addDays(month, 19)];
    await db.orm.em.fork().execute(
      'insert into valuations (account_id, as_of, value) values (?, ?, ?), (?, ?, ?)', [p.gen, early, '1.00', p.gen, late, '125000.00'],
    );
    const expected = { valuation: '125000.00', unrealized: new Dec('125000.00').minus(await ledgerBalance('account', p.gen, late)).toFixed(2) };
    for (const [by, key] of [['account', p.gen], ['unit', p.rootUnitId], ['portfolio', p.id]] as const) {
      const rows: Row[] = (await growth(p.id, `period=month&by=${by}`)).body.rows.filter((r: Row) => r.key === key);
      expect(rows.find((r) => r.periodStart! <= late && late <= r.periodEnd!)).toMatchObject(expected);
      expect(rows.filter((r) => r.valuation !== null)).toHaveLength(1);
    }
    const rev = (await growth(p.id, 'period=month&by=account')).body.rows.filter((r: Row) => r.key === p.rev);
    expect(rev.every((r: Row) => r.valuation === null && r.unrealized === null)).toBe(true);
  });

  it('lists the fork with what the unit started with and holds now', async () => {
    const res = await forksReport(p.id);
    expect(res.items).toEqual([expect.objectContaining({
      operationId: `fork-${p.gen}-1`, amount: '60000.00', unitId: fork.newUnitId, parentAccountId: p.gen,
      balanceNow: '60600.00', mergedAt: null, growth: '0.010000', annualized: null, // a unit younger than 30 days
    })]);
    const tree = await h.tree(p.id);
    const unit = tree.units.find((u) => u.id === fork.newUnitId)!;
    expect(unit.accounts.reduce((s, a) => s.plus(a.balance), new Dec(0)).toFixed(2)).toBe('60600.00');
  });

  it('draws the unit tree with each unit\'s balances', async () => {
    const res = await ok(api.as('viewer').GET('/v1/portfolios/{id}/reports/tree', { params: { path: { id: p.id } } }));
    expect(res).toMatchObject({
      unitId: p.rootUnitId, kind: 'root', status: 'active', balances: { gen: '120000.00', rev: '111500.00', com: '89500.00', total: '321000.00' },
      children: [{ unitId: fork.newUnitId, kind: 'forked', balances: { gen: '30600.00', rev: null, com: '30000.00', total: '60600.00' }, children: [] }],
    });
    const svg = await api.call('GET', `/v1/portfolios/${p.id}/reports/tree?format=svg`, { key: api.keys.viewer });
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expectWellFormedXml(svg.body);
    expect(svg.body).toContain('$30,600.00');
  });

  it('reports a merge: the target Com-Acc before it and since, with the merge as a flow', async () => {
    // The forked unit reaches 500000.00 and merges into the root Com-Acc (89500.00 -> 589500.00).
    await activity(fork.newGenAccountId, 'premium', '439400.00');
    expect((await h.merge(fork.newUnitId)).status).toBe('completed');
    await activity(p.com, 'premium', '5895.00'); // 1% on 589500.00

    const res = await ok(api.as('viewer').GET('/v1/portfolios/{id}/reports/merges', { params: { path: { id: p.id } } }));
    expect(res.items).toHaveLength(1);
    const item = res.items[0]!;
    expect(item).toMatchObject({
      operationId: `merge-${fork.newUnitId}`, unitId: fork.newUnitId, targetAccountId: p.com, amount: '500000.00',
      growthBefore: '-0.005556', // 90000.00 -> 88000.00 -> 89500.00
      growthSince: '0.010000', annualizedSince: null,
    });
    expect(new Dec(item.annualizedBefore!).lt(item.growthBefore!)).toBe(true); // a loss over ~200 days compounds to a larger yearly loss

    const forks = (await forksReport(p.id)).items;
    expect(forks[0]).toMatchObject({ balanceNow: '500000.00', mergedAt: item.mergedAt, growth: new Dec(500000).div(60000).minus(1).toFixed(6) });

    const units = (await growth(p.id, 'period=year&by=unit')).body.rows as Row[];
    const current = (key: string) => units.filter((r) => r.key === key).pop()!;
    expect(current(fork.newUnitId)).toMatchObject({ merges: '-500000.00', closing: '0.00' });
    expect(current(p.rootUnitId).merges).toBe('500000.00');
    for (const by of SCOPES) await checkRows(p.id, `period=quarter&by=${by}`);
  });
});

describe('time-weighted return', () => {
  it('does not count a mid-month deposit as return', async () => {
    const month = periodStartOf(addDays(today, -95), 'month');
    const p = await portfolio('100000.00', month); // Gen 40000.00, Rev 30000.00, Com 30000.00
    await activity(p.gen, 'premium', '1000.00', addDays(month, 4)); // 101000.00: +1%
    await activity(p.rev, 'deposit', '50000.00', addDays(month, 9)); // 151000.00: a flow
    await activity(p.com, 'premium', '1510.00', addDays(month, 19)); // 152510.00: +1%
    const to = addDays(periodStartOf(addDays(month, 40), 'month'), -1);
    const { rows, summary } = (await growth(p.id, `period=month&by=portfolio&to=${to}`)).body;
    // (101000 / 100000) · (152510 / 151000) − 1 = 1.01 · 1.01 − 1
    expect(rows).toEqual([expect.objectContaining({
      periodStart: month, periodEnd: to, opening: '0.00', deposits: '150000.00', income: '2510.00', closing: '152510.00', twr: '0.020100',
    })]);
    expect(summary).toEqual([expect.objectContaining({ from: month, to, opening: '0.00', closing: '152510.00', twr: '0.020100', annualized: null })]);
  });
});

describe('validation', () => {
  it('404s an unknown portfolio and 400s bad parameters', async () => {
    const p = await portfolio('100000.00', today);
    const unknown = '00000000-0000-7000-8000-000000000000';
    for (const path of ['growth', 'forks', 'merges', 'tree']) {
      expect((await api.call('GET', `/v1/portfolios/${unknown}/reports/${path}`)).status).toBe(404);
    }
    expect((await growth(p.id, 'period=day')).status).toBe(400);
    expect((await growth(p.id, 'by=bucket')).status).toBe(400);
    expect((await growth(p.id, 'from=2026-13-01')).status).toBe(400);
    expect((await growth(p.id, 'format=pdf')).status).toBe(400);
    const reversed = await growth(p.id, 'from=2026-06-02&to=2026-06-01');
    expect(reversed.status).toBe(400);
    expect(reversed.body.errors).toEqual([{ path: 'query.from', message: 'from 2026-06-02 is after to 2026-06-01' }]);
    expect((await api.call('GET', `/v1/portfolios/${p.id}/reports/tree?format=png`)).status).toBe(400);
    expect((await growth(p.id, '', null)).status).toBe(401);
  });

  it('refuses a to after today and a from before the earliest day at once, without computing anything', async () => {
    const p = await portfolio('100000.00', today);
    for (const query of ['period=week&to=9999-12-31', 'period=month&by=account&to=9999-12-31', 'period=year&by=account&from=2000-01-01&to=2999-12-31']) {
      const started = Date.now();
      const res = await growth(p.id, query);
      expect(Date.now() - started).toBeLessThan(2000);
      expect([query, res.status, res.body.errors]).toEqual([query, 400, [{ path: 'query.to', message: `to ${new URLSearchParams(query).get('to')} is after today (${today}, UTC)` }]]);
    }
    const tomorrow = addDays(today, 1);
    expect((await growth(p.id, `to=${tomorrow}`)).body.errors).toEqual([{ path: 'query.to', message: `to ${tomorrow} is after today (${today}, UTC)` }]);
    const early = await growth(p.id, `from=1999-12-31&to=${today}`);
    expect(early.status).toBe(400);
    expect(early.body.errors).toEqual([{ path: 'query.from', message: `from 1999-12-31 is before ${EARLIEST_REPORT_DAY}, the earliest day the report covers` }]);
    expect((await growth(p.id, `from=${today}&to=${today}`)).status).toBe(200);
  });

  it('starts the default range at the earliest day when the first entry is earlier, counting older entries in the opening', async () => {
    const p = await portfolio('100000.00', '1995-06-01');
    await activity(p.gen, 'premium', '1000.00', '2000-03-15');
    const res = await growth(p.id, 'period=year');
    expect(res.status).toBe(200);
    expect(res.body.from).toBe(EARLIEST_REPORT_DAY);
    expect(res.body.rows[0]).toMatchObject({ periodStart: EARLIEST_REPORT_DAY, opening: '100000.00', income: '1000.00', closing: '101000.00' });
    expect(res.body.rows).toHaveLength(periodCount(EARLIEST_REPORT_DAY, today, 'year'));
  });

  it('refuses a report of more than 50,000 rows, and answers the same data by a longer period', async () => {
    // 3 accounts of the root unit and 40 more units with a Gen-Acc each, all with entries since the first week of 2000.
    const p = await portfolio('100000.00', '2000-01-03');
    const em = db.orm.em.fork();
    const [external] = await em.execute<{ id: string }[]>(`select id from accounts where portfolio_id = ? and type = 'external'`, [p.id]);
    await em.execute(
      `with u as (
         insert into units (id, portfolio_id, parent_unit_id, kind) select gen_random_uuid(), ?, ?, 'forked' from generate_series(1, 40) returning id
       ), a as (
         insert into accounts (id, portfolio_id, unit_id, type, cash) select gen_random_uuid(), ?, u.id, 'gen', 100 from u returning id
       ), e as (
         insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, occurred_at)
         values (gen_random_uuid(), ?, ?, 'deposit', 'test', '2000-01-04T12:00:00Z') returning id
       )
       insert into postings (entry_id, account_id, bucket, amount)
       select e.id, a.id, 'cash', 100 from e, a union all select e.id, ?, 'cash', -4000 from e`,
      [p.id, p.rootUnitId, p.id, p.id, `reports-many-${p.id}`, external!.id],
    );
    await em.execute('update accounts set cash = cash - 4000 where id = ?', [external!.id]);

    const weeks = periodCount('2000-01-03', today, 'week');
    const started = Date.now();
    const tooLarge = await growth(p.id, 'period=week&by=account');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(tooLarge.status).toBe(400);
    expect(tooLarge.body.errors).toEqual([{
      path: 'query',
      message: `the report would have ${(43 * weeks).toLocaleString('en-US')} rows (up to ${weeks.toLocaleString('en-US')} weeks for each of 43 accounts), `
        + 'more than the limit of 50,000: use a longer period, fewer keys (by=portfolio) or a shorter range (from, to)',
    }]);
    expect((await growth(p.id, 'period=week&by=unit&format=csv')).status).toBe(400);

    const byYear = await growth(p.id, 'period=year&by=account');
    expect(byYear.status).toBe(200);
    expect(byYear.body.rows).toHaveLength(43 * periodCount('2000-01-03', today, 'year'));
    const portfolioWeeks = await growth(p.id, 'period=week&by=portfolio');
    expect(portfolioWeeks.status).toBe(200);
    expect(portfolioWeeks.body.rows).toHaveLength(weeks);
    expect(portfolioWeeks.body.rows.at(-1).closing).toBe('104000.00');
    expect((await growth(p.id, `period=week&by=account&from=${addDays(today, -365)}`)).status).toBe(200);
  });

  it('describes the endpoints in /openapi.json, with their CSV and SVG bodies', async () => {
    type Responses = Record<string, { content?: Record<string, { schema: unknown }> }>;
    const doc = await fetch(`${api.url}/openapi.json`).then((r) => r.json()) as { paths: Record<string, { get: { responses: Responses } }> };
    for (const path of ['growth', 'forks', 'merges', 'tree']) expect(doc.paths).toHaveProperty([`/v1/portfolios/{id}/reports/${path}`]);
    const ok = (path: string) => doc.paths[path]!.get.responses['200']!.content!;
    expect(Object.keys(ok('/v1/portfolios/{id}/reports/growth'))).toEqual(['application/json', 'text/csv', 'image/svg+xml']);
    expect(ok('/v1/portfolios/{id}/reports/growth')['application/json']!.schema).toEqual({ $ref: '#/components/schemas/GrowthReport' });
    expect(ok('/v1/portfolios/{id}/reports/growth')['text/csv']!.schema).toEqual({ type: 'string' });
    expect(Object.keys(ok('/v1/portfolios/{id}/reports/tree'))).toEqual(['application/json', 'image/svg+xml']);
    expect(Object.keys(ok('/v1/portfolios/{id}/reports/forks'))).toEqual(['application/json']);
    expect(Object.keys(ok('/v1/accounts/{id}/entries'))).toEqual(['application/json', 'text/csv']);
  });
});
