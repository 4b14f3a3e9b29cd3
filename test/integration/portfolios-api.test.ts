import { type Schemas, ok, type operations } from '../../src/client';
import { useTestApi } from '../support/api';
import { type NewPortfolio, accountOf, engineHelpers, okWith, statusOf } from '../support/engine';
import committedOpenApi from '../../src/client/openapi.json';
import { DOCS_CSP } from '../../src/api/docs';

const { api, h, db } = useTestApi();

/** A page of an account's entries (JSON, the default format). */
const entriesOf = async (id: string, query: NonNullable<operations['listAccountEntries']['parameters']['query']> = {}) =>
  (await ok(api.client.GET('/v1/accounts/{id}/entries', { params: { path: { id }, query } }))) as Schemas['Entries'];

/** A new portfolio (201): the whole answer. */
const createPortfolio = async (body: Partial<NewPortfolio> = {}) =>
  (await h.createPortfolio({ name: 'Main', owner: 'ana@example.com', initialCapital: '300000.00', ...body })).body;

describe('portfolios', () => {
  it('opens a $300,000.00 moderate portfolio as Gen 120000 / Rev 90000 / Com 90000 with 5% buffers', async () => {
    const p = await createPortfolio();
    expect(p.totals.balance).toBe('300000.00');
    expect(p.settings.forkThreshold).toBe('50000.00');
    expect(p.units).toHaveLength(1);
    expect(accountOf(p, 'gen')).toMatchObject({
      balance: '120000.00', baseBalance: '120000.00', surplus: '0.00', status: 'active', bufferRequired: '6000.00',
      buckets: { cash: '6000.00', contracts: '114000.00', leaps: '0.00', reserve: '0.00' },
    });
    expect(accountOf(p, 'rev')).toMatchObject({ balance: '90000.00', buckets: { cash: '4500.00', contracts: '85500.00' } });
    expect(accountOf(p, 'com')).toMatchObject({ balance: '90000.00', buckets: { cash: '4500.00', contracts: '85500.00' } });

    const again = await okWith(200, api.as('viewer').GET('/v1/portfolios/{id}', { params: { path: { id: p.id } } }));
    expect(again.units[0]!.accounts).toHaveLength(3);
    const list = await ok(api.as('viewer').GET('/v1/portfolios'));
    expect(list.items.map((x) => x.id)).toContain(p.id);
  });

  it('applies a template and settings overrides, and validates them', async () => {
    const p = await createPortfolio({ initialCapital: '100000.01', template: 'conservative', settings: { forkThreshold: '25000.00', childGenPct: '0.6' } });
    expect(accountOf(p, 'gen')).toMatchObject({ balance: '30000.00', buckets: { cash: '2100.00', contracts: '27900.00' } });
    expect(accountOf(p, 'rev')).toMatchObject({ balance: '50000.01' });
    expect(accountOf(p, 'com')).toMatchObject({ balance: '20000.00' });
    expect(p.settings).toMatchObject({ forkThreshold: '25000.00', childGenPct: '0.6', bufferPct: '0.07' });

    const bad = await api.call('POST', '/v1/portfolios', {
      body: { name: 'x', owner: 'y', initialCapital: '1000.00', settings: { childGenPct: '1.5', nope: 1 } },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(bad.body.errors.map((e: { path: string }) => e.path).join(' ')).toMatch(/childGenPct/);
  });

  it('lets an admin change settings and refuses an operator', async () => {
    const p = await createPortfolio();
    const patch = (client = api.client) =>
      client.PATCH('/v1/portfolios/{id}/settings', { params: { path: { id: p.id } }, body: { forkThreshold: '60000.00' } });
    expect(await statusOf(patch(api.as('operator')))).toBe(403);
    const patched = await okWith(200, patch());
    expect(patched.settings.forkThreshold).toBe('60000.00');
    expect(patched.settings.mergeThreshold).toBe('500000.00');
  });
});

describe('activity', () => {
  const post = (accountId: string, body: unknown, key: string | undefined, apiKey?: string) =>
    api.call('POST', `/v1/accounts/${accountId}/activity`, {
      body,
      key: apiKey ?? api.keys.operator,
      headers: key === undefined ? {} : { 'idempotency-key': key },
    });

  it('credits premium to cash, replays the same key, and 409s the same key with another body', async () => {
    const p = await createPortfolio();
    const gen = accountOf(p, 'gen');
    const first = await post(gen.id, { type: 'premium', amount: '1500.25' }, 'wk-1');
    expect(first.status).toBe(201);
    expect(first.body.account).toMatchObject({ balance: '121500.25', surplus: '1500.25', buckets: { cash: '7500.25' } });

    const replay = await post(gen.id, { type: 'premium', amount: '1500.25' }, 'wk-1');
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const clash = await post(gen.id, { type: 'premium', amount: '1500.26' }, 'wk-1');
    expect(clash.status).toBe(409);

    expect((await h.account(gen.id)).balance).toBe('121500.25');
  });

  it('takes a loss from cash then contracts, and tracks deposits and withdrawals in the base balance', async () => {
    const p = await createPortfolio();
    const rev = accountOf(p, 'rev');
    const loss = await post(rev.id, { type: 'realized_loss', amount: '5000.00' }, 'loss-1');
    expect(loss.status).toBe(201);
    expect(loss.body.account.buckets).toMatchObject({ cash: '0.00', contracts: '85000.00' });
    expect(loss.body.account.baseBalance).toBe('90000.00');

    const dep = await post(rev.id, { type: 'deposit', amount: '10000.00' }, 'dep-1');
    expect(dep.body.account).toMatchObject({ balance: '95000.00', baseBalance: '100000.00', buckets: { cash: '10000.00' } });

    // buffer = 5% of 95000.00 = 4750.00, so 5250.00 is withdrawable and 5250.01 is not
    const tooMuch = await post(rev.id, { type: 'withdrawal', amount: '5250.01' }, 'wd-1');
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.code).toBe('BufferViolation');
    const wd = await post(rev.id, { type: 'withdrawal', amount: '5250.00' }, 'wd-2');
    expect(wd.status).toBe(201);
    expect(wd.body.account).toMatchObject({ balance: '89750.00', baseBalance: '94750.00', buckets: { cash: '4750.00' } });
  });

  it('refuses a Com-Acc withdrawal and a debit above the balance, changing nothing', async () => {
    const p = await createPortfolio();
    const com = accountOf(p, 'com');
    const wd = await post(com.id, { type: 'withdrawal', amount: '1.00' }, 'c-1');
    expect(wd.status).toBe(422);
    expect(wd.body.code).toBe('WithdrawalNotAllowed');
    const fee = await post(com.id, { type: 'fee', amount: '90000.01' }, 'c-2');
    expect(fee.status).toBe(422);
    expect(fee.body.code).toBe('InsufficientFunds');
    expect((await h.account(com.id)).balance).toBe('90000.00');
    expect((await entriesOf(com.id)).items).toHaveLength(2); // the opening cash + contracts postings only
  });

  it.each(['merged', 'closed', 'forking'])('answers activity on a %s account with 409 and its status, posting nothing', async (status) => {
    const p = await createPortfolio();
    const com = accountOf(p, 'com');
    // A merge or a fork puts an account in these states; set directly here so the answer is tested on its own.
    await db.orm.em.fork().execute('update accounts set status = ? where id = ?', [status, com.id]);
    const res = await post(com.id, { type: 'premium', amount: '10.00' }, `late-${status}`);
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ status: 409, detail: `account is ${status}; activity is accepted only on active accounts` });
    expect((await entriesOf(com.id)).items).toHaveLength(2); // the opening postings only
  });

  it.each([
    ['a JSON number', { type: 'premium', amount: 100 }],
    ['three decimals', { type: 'premium', amount: '1.001' }],
    ['zero', { type: 'premium', amount: '0.00' }],
    ['a negative amount', { type: 'premium', amount: '-5.00' }],
    ['NaN', { type: 'premium', amount: 'NaN' }],
    ['Infinity', { type: 'premium', amount: 'Infinity' }],
    ['16 integer digits', { type: 'premium', amount: '1234567890123456' }],
    ['an exponent', { type: 'premium', amount: '1e3' }],
    ['an unknown type', { type: 'bonus', amount: '5.00' }],
    ['an unknown field', { type: 'premium', amount: '5.00', extra: true }],
  ])('rejects %s with a 400 problem', async (_label, body) => {
    const p = await createPortfolio();
    const res = await post(accountOf(p, 'gen').id, body, `bad-${Math.random()}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 400, title: 'Bad Request' });
    expect(res.body.errors.length).toBeGreaterThan(0);
  });

  it('requires a well-formed Idempotency-Key', async () => {
    const p = await createPortfolio();
    const gen = accountOf(p, 'gen').id;
    expect((await post(gen, { type: 'premium', amount: '5.00' }, undefined)).status).toBe(400);
    expect((await post(gen, { type: 'premium', amount: '5.00' }, 'has space')).status).toBe(400);
    expect((await post(gen, { type: 'premium', amount: '5.00' }, 'x'.repeat(201))).status).toBe(400);
  });

  it('pages entries with a cursor', async () => {
    const p = await createPortfolio();
    const gen = accountOf(p, 'gen').id;
    for (let i = 0; i < 5; i++) await post(gen, { type: 'premium', amount: `${i + 1}.00` }, `page-${i}`);
    const page1 = await entriesOf(gen, { limit: 3 });
    expect(page1.items.map((i) => i.amount)).toEqual(['5.00', '4.00', '3.00']);
    expect(page1.items[0]).toMatchObject({ kind: 'premium', bucket: 'cash', actor: expect.stringMatching(/^api-key:/) });
    const page2 = await entriesOf(gen, { limit: 3, cursor: page1.nextCursor! });
    expect(page2.items.map((i) => i.amount)).toEqual(['2.00', '1.00', '114000.00']);
    const page3 = await entriesOf(gen, { limit: 3, cursor: page2.nextCursor! });
    expect(page3.items.map((i) => i.amount)).toEqual(['6000.00']);
    expect(page3.nextCursor).toBeNull();
    expect((await api.call('GET', `/v1/accounts/${gen}/entries?cursor=bogus`)).status).toBe(400);
  });
});

describe('errors, auth and integrity', () => {
  it('answers unknown ids with 404 and bad ids with 400', async () => {
    expect((await api.call('GET', '/v1/portfolios/0190b6f0-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await api.call('GET', '/v1/accounts/0190b6f0-0000-7000-8000-000000000000')).status).toBe(404);
    expect((await api.call('GET', '/v1/accounts/not-a-uuid')).status).toBe(400);
    expect((await api.call('GET', '/v1/nothing-here')).status).toBe(404);
  });

  it('rejects malformed JSON with 400 and oversize bodies with 413, without internals', async () => {
    const bad = await api.call('POST', '/v1/portfolios', { raw: '{"name": ' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).not.toMatch(/SyntaxError|at .*\.js|node_modules/);
    const big = await api.call('POST', '/v1/portfolios', { raw: JSON.stringify({ name: 'x'.repeat(70_000) }) });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toContain('application/problem+json');
  });

  it('needs a key (401), and the right role (403)', async () => {
    expect((await api.call('GET', '/v1/portfolios', { key: null })).status).toBe(401);
    expect((await api.call('GET', '/v1/portfolios', { key: 'alu_wrong' })).status).toBe(401);
    const p = await createPortfolio();
    const viewerPost = await api.call('POST', `/v1/accounts/${accountOf(p, 'gen').id}/activity`, {
      key: api.keys.viewer, body: { type: 'premium', amount: '1.00' }, headers: { 'idempotency-key': 'v' },
    });
    expect(viewerPost.status).toBe(403);
    expect((await api.call('GET', '/v1/audit', { key: api.keys.operator })).status).toBe(403);
  });

  it('creates and revokes API keys; a revoked key stops working', async () => {
    const created = await okWith(201, api.client.POST('/v1/api-keys', { body: { name: 'ci', role: 'viewer' } }));
    const withIt = api.clientFor(created.key);
    const revoke = () => api.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: created.id } } });
    expect(await statusOf(withIt.GET('/v1/portfolios'))).toBe(200);
    expect(await statusOf(revoke())).toBe(204);
    expect(await statusOf(withIt.GET('/v1/portfolios'))).toBe(401);
    expect(await statusOf(revoke())).toBe(404);
  });

  it('passes the integrity check after activity and records an audit trail attributed to the key', async () => {
    const p = await createPortfolio();
    const gen = accountOf(p, 'gen').id;
    const operator = engineHelpers(api.as('operator'));
    await operator.activity(gen, 'premium', '10.00', { idempotencyKey: 'i-1' });
    await operator.activity(gen, 'fee', '6010.00', { idempotencyKey: 'i-2' });
    const integrity = await engineHelpers(api.as('viewer')).integrity(p.id);
    expect(integrity.ok).toBe(true);
    expect(integrity.checks.map((c) => c.name)).toEqual([
      'ledger-balanced', 'cached-balances-match-postings', 'no-negative-bucket', 'no-money-outside-active-accounts',
      'held-accounts-have-running-operation', 'hierarchy-consistent', 'completed-operations-have-entries', 'audit-chain-intact',
    ]);
    const audit = await ok(api.client.GET('/v1/audit', { params: { query: { portfolioId: p.id } } }));
    expect(audit.items.map((i) => i.action)).toEqual([
      'account.activity.fee', 'account.activity.premium', 'ledger.entry.posted', 'portfolio.created',
    ]);
    expect(audit.items[0]!.actor).toMatch(/^api-key:/);
  });

  it('serves health, readiness and the OpenAPI document (the committed one)', async () => {
    expect((await api.call('GET', '/healthz', { key: null })).body).toEqual({ status: 'ok' });
    const ready = await api.call('GET', '/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', temporal: 'ok' });
    const doc = await api.call('GET', '/openapi.json', { key: null });
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/portfolios', '/v1/accounts/{id}/activity']));
    // The served document is the committed one, which Redocly lints and the typed client is generated from.
    expect(doc.body).toStrictEqual(committedOpenApi);
  });

  it('serves /docs (Swagger UI) and only its assets, from this origin, under a strict CSP', async () => {
    const page = await api.call('GET', '/docs', { key: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe(DOCS_CSP);
    expect(DOCS_CSP).toMatch(/default-src 'none'.*script-src 'self'; style-src 'self';/);
    expect(DOCS_CSP).not.toMatch(/unsafe|https?:|\*/);
    const html = String(page.body);
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|<style|\sstyle=|\son\w+=/); // no inline script, style or handler
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // nothing from another origin
    expect(html).toContain('never stored');
    expect((await api.call('GET', '/docs/', { key: null })).status).toBe(200);

    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    const types: Record<string, RegExp> = { js: /^(text|application)\/javascript/, css: /^text\/css/, png: /^image\/png/ };
    expect(assets.map((a) => a.split('.').pop()).sort()).toEqual(['css', 'css', 'js', 'js', 'png', 'png']);
    for (const asset of assets) {
      const res = await fetch(`${api.url}${asset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(types[asset.split('.').pop()!]!);
      expect(res.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);
      expect(res.headers.get('content-security-policy')).toBe(DOCS_CSP);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    // Only the files the page uses: not the rest of the package, not outside it.
    const vendor = assets.find((a) => a.endsWith('/swagger-ui-bundle.js'))!.replace(/\/[^/]+$/, '');
    for (const path of [`${vendor}/index.html`, `${vendor}/swagger-ui-bundle.js.map`, `${vendor}/package.json`, `${vendor}/..%2f..%2fpackage.json`, '/docs/assets/docs.js']) {
      expect((await api.call('GET', path, { key: null })).status).toBe(404);
    }
  });
});
