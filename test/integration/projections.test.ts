import type { MikroORM } from '@mikro-orm/postgresql';
import { type TestApi, startTestApi } from '../support/api';
import { createTestDatabase } from '../support/db';
import { protocolHelpers } from '../support/protocol';

let db: { orm: MikroORM; close(): Promise<void> };
let api: TestApi;
let h: ReturnType<typeof protocolHelpers>;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.orm);
  h = protocolHelpers(api, db.orm);
});
afterAll(async () => {
  await api?.close();
  await db?.close();
});

describe('projections API', () => {
  it('projects a new portfolio: first fork in week 6 for the hand-computed case', async () => {
    const res = await api.call('POST', '/v1/projections', {
      key: api.keys.viewer,
      body: { initialCapital: '100000.00', years: 1, settings: { forkThreshold: '3000.00' } },
    });
    expect(res.status).toBe(200);
    expect(res.body.forks[0]).toEqual({ week: 6, amount: '3544.18' });
    expect(res.body.years).toHaveLength(1);
    expect(res.body.years[0]).toMatchObject({ year: 1, forks: expect.any(Number), byType: { rev: expect.any(String) } });
    expect(res.body.weeks).toBeUndefined();
  });

  it('returns weekly rows as CSV', async () => {
    const res = await fetch(`${api.url}/v1/projections?format=csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.keys.viewer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ initialCapital: '300000.00', years: 2 }),
    });
    expect(res.headers.get('content-type')).toContain('text/csv');
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('week,year,total,gen,rev,com,forked,active_forked_units');
    expect(lines).toHaveLength(1 + 104);
    // Week 1: Gen 120000 + 1.425% = 121710.00, Rev 90000 + 0.95% = 90855.00, Com 90000 + 0.475% = 90427.50
    expect(lines[1]).toMatch(/^1,1,302992\.50,121710\.00,90855\.00,90427\.50,0\.00,0$/);
  });

  it('validates the request', async () => {
    expect((await api.call('POST', '/v1/projections', { body: { initialCapital: 100, years: 1 } })).status).toBe(400);
    expect((await api.call('POST', '/v1/projections', { body: { initialCapital: '100.00', years: 31 } })).status).toBe(400);
  });

  it('projects an existing portfolio from its tree, and predicts a fork\'s impact in the dry run', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const proj = await api.call('GET', `/v1/portfolios/${p.id}/projection?years=2&granularity=week`);
    expect(proj.status).toBe(200);
    expect(proj.body.forks[0].week).toBe(1);
    expect(proj.body.weeks).toHaveLength(104);
    const dry = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: { dryRun: true } });
    expect(dry.body.predictedImpact).toMatchObject({ horizonYears: 5, withFork: { total: expect.any(String) }, withoutFork: { total: expect.any(String) } });
    const { withFork, withoutFork, difference } = dry.body.predictedImpact;
    // Forking moves half the surplus into a Com-Acc (0.5% a week instead of 1.5%): more units, slower growth.
    expect(withFork.activeForkedUnits).toBeGreaterThan(withoutFork.activeForkedUnits);
    expect((Number(withFork.total) * 100 - Number(withoutFork.total) * 100) / 100).toBeCloseTo(Number(difference), 2);
    expect((await api.call('GET', '/v1/portfolios/0190b6f0-0000-7000-8000-000000000000/projection')).status).toBe(404);
  });
});
