import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/api/app';
import { type Schemas, ok } from '../../src/client';
import { buildServices } from '../../src/bootstrap';
import type { Logger } from '../../src/infra/logger';
import { EXPORT_LIMITS, type ExportLimits, ExportService } from '../../src/services/exports';
import { engineHelpers, eventually } from '../support/engine';
import { useProtocolStack } from '../support/stack';

const stack = useProtocolStack();
const { api, h, db } = stack;

const cents = (amount: string) => BigInt(amount.replace('.', ''));
const MONEY = /^-?\d+\.\d{2}$/;

interface Posting { accountId: string; bucket: string; amount: string }
interface Entry { id: string; postings: Posting[] }
interface ExportDoc {
  exportedAt: string;
  portfolio: Record<string, unknown>;
  units: Record<string, unknown>[];
  accounts: { id: string; type: string; balance: string }[];
  entries: Entry[];
  events: { forks: Record<string, unknown>[]; merges: unknown[]; reinvestments: unknown[] };
  tasks: unknown[];
  imports: unknown[];
  valuations: unknown[];
}

/** A premium (with a reference, when given): its entry's id. */
const premium = async (accountId: string, amount: string, reference?: string) =>
  (await h.activity(accountId, 'premium', amount, { reference })).entryId;

/** Sessions other than this query's with a transaction open (the test's API and worker are idle otherwise). */
const inTransaction = async () => {
  const [row] = await db.orm.em.fork().execute<{ n: string }[]>(
    `select count(*) as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null`,
  );
  return Number(row!.n);
};
/** Polls `probe` until it gives `want` (by a deadline; it throws when that passes). */
const settles = <T>(what: string, probe: () => Promise<T>, want: T): Promise<T> =>
  eventually(`${what} to be ${String(want)}`, probe, { until: (got) => got === want, timeoutMs: 15_000 });
const transactions = (want: number) => settles('the open transactions', inTransaction, want);
/** Pool connections checked out (by the API, the worker and the tests, which share the pool). */
const poolInUse = () => (db.orm.em.getConnection().getKnex().client as { pool: { numUsed(): number } }).pool.numUsed();

/** A download opened and left unread (or read on later): the response as soon as its status is in. */
const download = (url: string, path: string, signal?: AbortSignal) =>
  fetch(`${url}${path}`, { headers: { authorization: `Bearer ${api.keys.viewer}` }, signal });

/** Reads a body to its end; rejects when the server breaks the connection. */
async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<number> {
  let bytes = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  return bytes;
}

interface LogLine { level: string; msg: string; fields?: Record<string, unknown> }

/**
 * A second API over the same database and keys, with its own export service
 * (`limits`) and a logger that keeps its lines: to see what an export's
 * failure logs, and to make its timeouts short.
 */
async function captureApi(limits: Partial<ExportLimits>) {
  const lines: LogLine[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  const services = buildServices(db.orm, api.temporal, { taskQueue: stack.queue });
  const app = createApp({ ...services, exports: new ExportService(db.orm, limits), log, readiness: async () => ({ postgres: true, temporal: true }) });
  // Where the route helper finds the app's logger (createApp may set it too).
  app.locals.log ??= log;
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    lines,
    errors: () => lines.filter((l) => l.level === 'error'),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const entryIdsOf = async (portfolioId: string) =>
  (await db.orm.em.fork().execute<{ id: string }[]>('select id from journal_entries where portfolio_id = ? order by id', [portfolioId])).map((r) => r.id);

/**
 * Posts `count` premium entries on an account straight in SQL, each balanced
 * against the external account (two postings), with the account's cached
 * buckets moved to match (the ledger caches none for the external account):
 * a large ledger in seconds. Their ids sort before any real (UUIDv7)
 * entry's, so an entry posted later is exported last.
 */
async function bulkPremiums(portfolioId: string, accountId: string, count: number): Promise<void> {
  await db.orm.em.fork().transactional(async (em) => {
    const [ext] = await em.execute<{ id: string }[]>(`select id from accounts where portfolio_id = ? and type = 'external'`, [portfolioId]);
    await em.execute(
      `with src as materialized (
         select i, ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid as id, ((i % 997) + 1) / 100.0 as amount
           from generate_series(1, ?) i),
       entries as (
         insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, occurred_at, reference)
         select id, ?::uuid, 'bulk:' || id, 'premium', 'test:bulk', now(), 'bulk ' || i from src)
       insert into postings (entry_id, account_id, bucket, amount)
       select id, ?::uuid, 'cash', amount from src union all select id, ?::uuid, 'cash', -amount from src`,
      [count, portfolioId, accountId, ext!.id],
    );
    await em.execute(`update accounts set cash = cash + (select sum(((i % 997) + 1) / 100.0) from generate_series(1, ?) i) where id = ?`, [count, accountId]);
  });
}

/**
 * Every exported entry balances, and every exported account's balance is the
 * sum of its exported postings. (Plain checks per posting: 100,000 `expect`
 * calls would block the process, and the API it shares, for seconds.)
 */
function expectConsistent(doc: ExportDoc): void {
  const byAccount = new Map<string, bigint>();
  const wrong: string[] = [];
  for (const e of doc.entries) {
    let net = 0n;
    for (const p of e.postings) {
      if (!MONEY.test(p.amount)) wrong.push(`entry ${e.id}: amount ${p.amount}`);
      net += cents(p.amount);
      byAccount.set(p.accountId, (byAccount.get(p.accountId) ?? 0n) + cents(p.amount));
    }
    if (e.postings.length < 2 || net !== 0n) wrong.push(`entry ${e.id}: ${e.postings.length} postings, net ${net} cents`);
  }
  expect(wrong).toEqual([]);
  expect(doc.accounts.map((a) => ({ id: a.id, balance: cents(a.balance) }))).toEqual(doc.accounts.map((a) => ({ id: a.id, balance: byAccount.get(a.id) ?? 0n })));
}

/** RFC 4180: quoted cells may hold commas, quotes (doubled) and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') cell += c;
      else if (text[i + 1] === '"') cell += text[++i];
      else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      rows.push([...row, cell]);
      row = [];
      cell = '';
    } else cell += c;
  }
  return rows;
}

const HEADER = ['posting_id', 'entry_id', 'occurred_at', 'kind', 'bucket', 'amount', 'balance_after', 'operation_id', 'reference', 'actor'];

/** Reads a CSV export and checks its shape: the header, rows oldest first, a running balance that adds up row by row. */
async function entriesCsv(accountId: string) {
  const res = await api.call('GET', `/v1/accounts/${accountId}/entries?format=csv`, { key: api.keys.viewer });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
  expect(res.headers.get('content-disposition')).toBe(`attachment; filename="account-${accountId}-entries.csv"`);
  const [header, ...rows] = parseCsv(res.body as string);
  expect(header).toEqual(HEADER);
  const records = rows.map((r) => Object.fromEntries(HEADER.map((k, i) => [k, r[i]!])));
  let balance = 0n;
  let previous = 0n;
  const wrong: string[] = [];
  for (const r of records) {
    if (BigInt(r.posting_id!) <= previous) wrong.push(`posting ${r.posting_id} after ${previous}`);
    previous = BigInt(r.posting_id!);
    balance += cents(r.amount!);
    if (cents(r.balance_after!) !== balance) wrong.push(`posting ${r.posting_id}: balance_after ${r.balance_after}, expected ${balance} cents`);
  }
  expect(wrong).toEqual([]);
  return { text: res.body as string, records };
}

describe('GET /v1/portfolios/:id/export', () => {
  let p: Awaited<ReturnType<typeof h.portfolio>>;
  let forkId: string;

  beforeAll(async () => {
    p = await h.portfolio();
    await premium(p.gen, '50001.01', '=cmd()');
    await premium(p.rev, '120.50', 'a,"b"');
    forkId = await engineHelpers(api.as('operator')).startFork(p.gen);
    expect((await h.waitFor(forkId)).status).toBe('completed');
  });

  it('exports the tree, every entry with balanced postings, and the records, as an attachment', async () => {
    const res = await api.call('GET', `/v1/portfolios/${p.id}/export`, { key: api.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="portfolio-${p.id}.json"`);
    const doc = res.body as ExportDoc;

    expect(Date.parse(doc.exportedAt)).not.toBeNaN();
    expect(doc.portfolio).toMatchObject({ id: p.id, initialCapital: '300000.00', template: 'moderate', settings: { forkThreshold: '50000.00' } });
    expect(doc.units.map((u) => u.kind).sort()).toEqual(['forked', 'root']);
    expect(doc.accounts.map((a) => a.type).sort()).toEqual(['com', 'com', 'external', 'gen', 'gen', 'holding', 'rev']);
    const gen = doc.accounts.find((a) => a.id === p.gen)!;
    expect(gen).toEqual({ ...(await h.account(p.gen)), type: 'gen', lastForkAt: expect.stringMatching(/Z$/) });

    expect(doc.entries.map((e) => e.id)).toEqual(await entryIdsOf(p.id));
    expect(doc.entries.find((e) => (e as unknown as { reference: string }).reference === '=cmd()')).toMatchObject({
      kind: 'premium', actor: expect.stringMatching(/^api-key:/), operationId: null, reversesEntryId: null,
      idempotencyKey: expect.stringMatching(/^activity:/), occurredAt: expect.stringMatching(/Z$/), createdAt: expect.stringMatching(/Z$/),
    });
    expect(doc.entries.filter((e) => (e as unknown as { operationId: string }).operationId === forkId).length).toBeGreaterThan(0);
    expectConsistent(doc);

    expect(doc.events.forks).toEqual([expect.objectContaining({ workflowId: forkId, status: 'completed', surplus: '50001.01', startedAt: expect.stringMatching(/Z$/) })]);
    expect(doc.events.merges).toEqual([]);
    expect(doc.events.reinvestments).toEqual([]);
    expect(doc.tasks).toEqual([]);
    expect(doc.imports).toEqual([]);
    expect(doc.valuations).toEqual([]);
  });

  it('lets a viewer read it, needs a key, and answers 404 for an unknown portfolio', async () => {
    expect((await api.call('GET', `/v1/portfolios/${p.id}/export`, { key: null })).status).toBe(401);
    const missing = await api.call('GET', '/v1/portfolios/0190b6f0-0000-7000-8000-000000000000/export', { key: api.keys.viewer });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
  });

  describe('a ledger of 100,000 postings', () => {
    let big: Awaited<ReturnType<typeof h.portfolio>>;

    beforeAll(async () => {
      big = await h.portfolio();
      await bulkPremiums(big.id, big.gen, 50_000);
    });

    it('streams it from one snapshot: an entry posted mid-export is in none of its parts', async () => {
      const res = await fetch(`${api.url}/v1/portfolios/${big.id}/export`, { headers: { authorization: `Bearer ${api.keys.viewer}` } });
      expect(res.status).toBe(200);
      // Streamed: no length known up front.
      expect(res.headers.get('transfer-encoding')).toBe('chunked');
      expect(res.headers.get('content-length')).toBeNull();
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const first = await reader.read();
      text += decoder.decode(first.value, { stream: true });

      const late = await premium(big.gen, '10.00');
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
      text += decoder.decode();
      const after = await api.call('GET', `/v1/portfolios/${big.id}/export`, { key: api.keys.viewer });
      const stored = await entryIdsOf(big.id);

      const doc = JSON.parse(text) as ExportDoc;
      expect(doc.entries.map((e) => e.id)).toEqual(stored.filter((id) => id !== late));
      expect(doc.entries.reduce((s, e) => s + e.postings.length, 0)).toBeGreaterThanOrEqual(100_000);
      expectConsistent(doc);
      expect((after.body as ExportDoc).entries.map((e) => e.id)).toEqual(stored);
      expectConsistent(after.body as ExportDoc);
    });

    it('ends its snapshot transaction when the client leaves mid-export', async () => {
      const abort = new AbortController();
      const res = await fetch(`${api.url}/v1/portfolios/${big.id}/export`, { headers: { authorization: `Bearer ${api.keys.viewer}` }, signal: abort.signal });
      await res.body!.getReader().read();
      // The export waits for the client to read on, its transaction open.
      expect(await transactions(1)).toBe(1);
      abort.abort();
      expect(await transactions(0)).toBe(0);
    });

    it(`streams at most ${EXPORT_LIMITS.concurrent} exports at once: one more is refused with 503 and Retry-After until one ends`, async () => {
      expect(EXPORT_LIMITS.concurrent).toBe(2);
      const held = [new AbortController(), new AbortController()];
      // Both started (their status is in) and left unread: each waits for its client, holding its slot.
      for (const c of held) expect((await download(api.url, `/v1/portfolios/${big.id}/export`, c.signal)).status).toBe(200);
      expect(await inTransaction()).toBe(2);

      for (const path of [`/v1/portfolios/${p.id}/export`, `/v1/accounts/${p.gen}/entries?format=csv`]) {
        const refused = await api.call('GET', path, { key: api.keys.viewer });
        expect(refused.status).toBe(503);
        expect(refused.headers.get('retry-after')).toBe(String(EXPORT_LIMITS.retryAfterSeconds));
        expect(refused.headers.get('content-type')).toContain('application/problem+json');
        expect(refused.headers.get('content-disposition')).toBeNull();
        expect(refused.body).toEqual({
          type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'ExportsBusy', retryAfter: EXPORT_LIMITS.retryAfterSeconds,
          detail: `2 exports are already running on this server; retry in ${EXPORT_LIMITS.retryAfterSeconds} seconds`,
        });
      }
      // Not found is still not found, and other requests are served meanwhile.
      expect((await api.call('GET', '/v1/portfolios/0190b6f0-0000-7000-8000-000000000000/export', { key: api.keys.viewer })).status).toBe(404);
      expect((await api.call('GET', `/v1/accounts/${p.gen}`, { key: api.keys.viewer })).status).toBe(200);

      // A client that leaves gives its slot back...
      held[0]!.abort();
      const exportStatus = async () => (await api.call('GET', `/v1/portfolios/${p.id}/export`, { key: api.keys.viewer })).status;
      expect(await settles('the export status', exportStatus, 200)).toBe(200);
      // ...and so does an export that ends: one slot left, used again and again.
      for (let i = 0; i < 3; i++) expect((await entriesCsv(p.gen)).records.length).toBeGreaterThan(0);
      held[1]!.abort();
      expect(await transactions(0)).toBe(0);
    });

    describe('a failure after the first byte', () => {
      let capture: Awaited<ReturnType<typeof captureApi>> | undefined;
      afterEach(async () => {
        await capture?.close();
        capture = undefined;
      });

      it('a client that stops reading loses its snapshot to the idle timeout; the failure is logged with an error id and breaks the download', async () => {
        capture = await captureApi({ idleInTransactionMs: 1000, concurrent: 1 });
        const inUse = poolInUse();
        const res = await download(capture.url, `/v1/portfolios/${big.id}/export`);
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        await reader.read();
        expect(await inTransaction()).toBe(1);
        // PostgreSQL ends the idle snapshot transaction (and its session) after a second.
        expect(await transactions(0)).toBe(0);
        expect(capture.errors()).toEqual([]);

        // Reading on: what was sent arrives, then the connection breaks instead of ending, so no truncated document passes for a whole one.
        await expect(readToEnd(reader)).rejects.toThrow();
        expect(capture.errors()).toEqual([{
          level: 'error', msg: 'streamed response failed',
          fields: {
            errorId: expect.stringMatching(/^[0-9a-f-]{36}$/), method: 'GET', path: `/v1/portfolios/${big.id}/export`,
            error: expect.stringMatching(/idle-in-transaction|terminat|connection/i),
          },
        }]);
        // The slot and the pool connection are back.
        expect(await settles('the pool connections in use', async () => poolInUse(), inUse)).toBe(inUse);
        const next = await download(capture.url, `/v1/accounts/${p.gen}/entries?format=csv`);
        expect(next.status).toBe(200);
        expect(await readToEnd(next.body!.getReader())).toBeGreaterThan(0);
      });

      it('aborts an export at its deadline, logged, its snapshot ended', async () => {
        capture = await captureApi({ deadlineMs: 1500, concurrent: 1 });
        const res = await download(capture.url, `/v1/portfolios/${big.id}/export`);
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        await reader.read();
        expect(await inTransaction()).toBe(1);
        // Left unread (the idle timeout is a minute): the deadline ends it.
        expect(await transactions(0)).toBe(0);
        await expect(readToEnd(reader)).rejects.toThrow();
        expect(capture.errors()).toEqual([{
          level: 'error', msg: 'streamed response aborted at its deadline',
          fields: { errorId: expect.any(String), method: 'GET', path: `/v1/portfolios/${big.id}/export`, error: expect.stringMatching(/abort/i) },
        }]);
        expect((await download(capture.url, `/v1/accounts/${p.gen}/entries?format=csv`)).status).toBe(200);
      });

      it('logs a client that leaves at debug level only', async () => {
        capture = await captureApi({});
        const abort = new AbortController();
        const res = await download(capture.url, `/v1/portfolios/${big.id}/export`, abort.signal);
        await res.body!.getReader().read();
        abort.abort();
        expect(await settles('the client-went-away log line', async () => capture!.lines.some((l) => l.msg === 'streamed response: the client went away'), true)).toBe(true);
        expect(capture.errors()).toEqual([]);
        expect(await transactions(0)).toBe(0);
      });
    });

    it('writes every posting of an account as CSV, in pages, with the running balance ending at the balance', async () => {
      const { records } = await entriesCsv(big.gen);
      const [stored] = await db.orm.em.fork().execute<{ count: string }[]>('select count(*) from postings where account_id = ?', [big.gen]);
      expect(records).toHaveLength(Number(stored!.count));
      expect(records.length).toBeGreaterThan(50_000);
      expect(records.at(-1)!.balance_after).toBe((await h.account(big.gen)).balance);
    });
  });

  describe('GET /v1/accounts/:id/entries?format=csv', () => {
    it('writes the postings oldest first, the running balance ending at the account balance', async () => {
      const { text, records } = await entriesCsv(p.gen);
      expect(records[0]).toMatchObject({ kind: 'opening', entry_id: expect.any(String), actor: expect.stringMatching(/^api-key:/), occurred_at: expect.stringMatching(/Z$/) });
      expect(records.at(-1)!.balance_after).toBe((await h.account(p.gen)).balance);
      // The fork debits the whole surplus: negative amounts are numbers, written as they are.
      const forkNet = records.filter((r) => r.operation_id === forkId).reduce((s, r) => s + cents(r.amount!), 0n);
      expect(forkNet).toBe(cents('-50001.01'));
      expect(text).not.toContain("'-");
    });

    it('neutralises text a spreadsheet would run as a formula, and quotes what needs quoting', async () => {
      const gen = await entriesCsv(p.gen);
      expect(gen.records.find((r) => r.kind === 'premium')!.reference).toBe("'=cmd()");
      expect(gen.text).toContain(",'=cmd(),");
      expect(gen.text).not.toMatch(/(^|,)=cmd/m);
      const rev = await entriesCsv(p.rev);
      expect(rev.records.find((r) => r.kind === 'premium')!.reference).toBe('a,"b"');
      expect(rev.text).toContain(',"a,""b""",');
    });

    it('keeps JSON pages as the default, validates the format and checks access', async () => {
      const json = await ok(api.as('viewer').GET('/v1/accounts/{id}/entries', { params: { path: { id: p.gen }, query: { limit: 2 } } })) as Schemas['Entries'];
      expect(json.items).toHaveLength(2);
      expect(json.nextCursor).toEqual(expect.any(String));
      expect((await api.call('GET', `/v1/accounts/${p.gen}/entries?format=xml`)).status).toBe(400);
      expect((await api.call('GET', `/v1/accounts/${p.gen}/entries?format=csv`, { key: null })).status).toBe(401);
      const missing = await api.call('GET', '/v1/accounts/0190b6f0-0000-7000-8000-000000000000/entries?format=csv');
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toContain('application/problem+json');
    });
  });
});
