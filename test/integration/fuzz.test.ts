import fc from 'fast-check';
import { ok } from '../../src/client';
import { startTestApi, useTestApi } from '../support/api';
import { refused, statusOf } from '../support/engine';

/**
 * Fuzzes the API with generated requests: never a 5xx, never a stack trace,
 * and a rejected request changes nothing (journal, audit log, idempotency
 * records, portfolios all keep their row counts). The requests are raw on
 * purpose (api.call): the typed client would not send most of them.
 */
const { db, api, h } = useTestApi();
let accounts: string[];

beforeAll(async () => {
  const p = await h.portfolio();
  accounts = [p.gen, p.rev, p.com];
});

const state = async () =>
  (await db.orm.em.fork().execute<{ n: string }[]>(
    `select (select count(*) from journal_entries) || '/' || (select count(*) from audit_log) || '/' ||
            (select count(*) from idempotent_requests) || '/' || (select count(*) from portfolios) || '/' ||
            (select coalesce(sum(cash + contracts + leaps + reserve), 0) from accounts where type <> 'external') as n`,
  ))[0]!.n;

const amount = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.constantFrom('NaN', 'Infinity', '-1.00', '0', '0.00', '1e3', '0.001', '1234567890123456', ' 5', '5 ', '+5', '0x10', '', null, true, [], {}),
  fc.bigInt({ min: 1n, max: 10n ** 12n }).map((c) => `${c / 100n}.${String(c % 100n).padStart(2, '0')}`),
);
const activityType = fc.oneof(fc.constantFrom('deposit', 'withdrawal', 'premium', 'realized_gain', 'realized_loss', 'fee', 'assignment'), fc.string());
const body = fc.oneof(
  fc.record({ type: activityType, amount }, { requiredKeys: [] }),
  fc.record({ type: activityType, amount, extra: fc.anything() }),
  fc.anything(),
);
const accountId = () => fc.oneof(fc.constantFrom(...accounts), fc.uuid(), fc.string({ maxLength: 60 }).map((s) => encodeURIComponent(s)));
const idemKey = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 250 }), fc.stringMatching(/^[a-z0-9-]{1,40}$/));

it('survives generated activity requests: no 5xx, and no change from a rejected one', async () => {
  await fc.assert(
    fc.asyncProperty(accountId(), body, idemKey, fc.boolean(), async (id, b, key, rawJunk) => {
      const before = await state();
      const headers: Record<string, string> = {};
      if (key !== undefined && /^[\x20-\x7e]*$/.test(key)) headers['idempotency-key'] = key;
      const res = await api.call('POST', `/v1/accounts/${id}/activity`, {
        key: api.keys.operator, headers, ...(rawJunk ? { raw: typeof b === 'string' ? b : JSON.stringify(b)?.slice(0, -1) ?? '{' } : { body: b ?? {} }),
      });
      expect(res.status).toBeLessThan(500);
      expect(JSON.stringify(res.body ?? '')).not.toMatch(/node_modules|at [A-Za-z]+ \(|SELECT |select |stack/);
      if (res.status >= 400) expect(await state()).toBe(before);
    }),
    { numRuns: 300 },
  );
});

it('survives generated portfolio, fork and reinvest requests the same way', async () => {
  const requests = fc.oneof(
    fc.record({ path: fc.constant('/v1/portfolios'), body: fc.record({ name: fc.oneof(fc.string(), fc.integer()), owner: fc.string(), initialCapital: amount, template: fc.oneof(fc.constant('moderate'), fc.string()), settings: fc.anything() }, { requiredKeys: [] }) }),
    fc.record({ path: accountId().map((id) => `/v1/accounts/${id}/fork`), body: fc.anything() }),
    fc.record({ path: accountId().map((id) => `/v1/accounts/${id}/reinvest`), body: fc.record({ quarter: fc.oneof(fc.string(), fc.constantFrom('2099Q1', '2026Q5', '1999Q4')), strategy: fc.string(), dryRun: fc.constant(true) }, { requiredKeys: [] }) }),
  );
  await fc.assert(
    fc.asyncProperty(requests, async (r) => {
      const before = await state();
      const res = await api.call('POST', r.path, { key: api.keys.operator, body: r.body ?? {} });
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400) expect(await state()).toBe(before);
    }),
    { numRuns: 200 },
  );
});

it('limits requests per API key (429 with Retry-After), other keys unaffected', async () => {
  const limited = await startTestApi(db.orm, 'unused', { rateLimitPerMinute: 5 });
  try {
    const statuses = [];
    const viewer = limited.as('viewer');
    for (let i = 0; i < 7; i++) statuses.push(await statusOf(viewer.GET('/v1/portfolios')));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const refusal = await refused(ok(viewer.GET('/v1/portfolios')));
    expect(refusal.status).toBe(429);
    expect(Number(refusal.headers!.get('retry-after'))).toBeGreaterThan(0);
    expect(await statusOf(limited.client.GET('/v1/portfolios'))).toBe(200);
  } finally {
    await limited.close();
  }
});
