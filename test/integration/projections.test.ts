import type { Schemas, operations } from '../../src/client';
import { money } from '../../src/domain/money';
import { ProjectionRangeError, ProjectionService } from '../../src/services/projections';
import { useTestApi } from '../support/api';
import { okWith, refused } from '../support/engine';

const { db, api, h } = useTestApi();

type Query = NonNullable<operations['projectPortfolio']['parameters']['query']>;
/** A portfolio's projection (200). */
const projectionOf = (id: string, query: Query = {}) =>
  okWith(200, api.client.GET('/v1/portfolios/{id}/projection', { params: { path: { id }, query } }));
/** A new portfolio's projection (200), as the viewer. */
const project = (body: Schemas['ProjectionRequest']) => okWith(200, api.as('viewer').POST('/v1/projections', { body }));

describe('projections API', () => {
  it('projects a new portfolio: first fork in week 6 for the hand-computed case', async () => {
    const res = await project({ initialCapital: '100000.00', years: 1, settings: { forkThreshold: '3000.00' } });
    expect(res.forks[0]).toEqual({ week: 6, amount: '3544.18' });
    expect(res.years).toHaveLength(1);
    expect(res.years[0]).toMatchObject({ year: 1, forks: expect.any(Number), byType: { rev: expect.any(String) } });
    expect(res.weeks).toBeUndefined();
  });

  it('returns weekly rows as CSV', async () => {
    const { data: text, response } = await api.as('viewer').POST('/v1/projections', {
      params: { query: { format: 'csv' } }, body: { initialCapital: '300000.00', years: 2 }, parseAs: 'text',
    });
    expect(response.headers.get('content-type')).toContain('text/csv');
    const lines = text!.trim().split('\n');
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
    const proj = await projectionOf(p.id, { years: 2, granularity: 'week' });
    expect(proj.forks[0]!.week).toBe(1);
    expect(proj.weeks).toHaveLength(104);
    const dry = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: { dryRun: true } });
    expect(dry.body.predictedImpact).toMatchObject({ horizonYears: 5, withFork: { total: expect.any(String) }, withoutFork: { total: expect.any(String) } });
    const { withFork, withoutFork, difference } = dry.body.predictedImpact;
    // Forking moves half the surplus into a Com-Acc (0.5% a week instead of 1.5%): more units, slower growth.
    expect(withFork.activeForkedUnits).toBeGreaterThan(withoutFork.activeForkedUnits);
    expect((Number(withFork.total) * 100 - Number(withoutFork.total) * 100) / 100).toBeCloseTo(Number(difference), 2);
    expect((await api.call('GET', '/v1/portfolios/0190b6f0-0000-7000-8000-000000000000/projection')).status).toBe(404);
  });

  it('projects an existing portfolio from its accounts\' real age: minAccountAgeDays = 60 delays the first fork to day 60', async () => {
    const p = await h.portfolio('300000.00', { minAccountAgeDays: 60 });
    await h.activity(p.gen, 'premium', '50001.01');
    const proj = await projectionOf(p.id, { years: 1 });
    // Opened moments ago: day 60 of the projection is in week 9 (days 56-62). Without the minimum age it is week 1 (above).
    expect(proj.forks[0]!.week).toBe(9);
  });
});

describe('projection limits: input it cannot compute exactly is a 422 that says why, never a 500', () => {
  const LIMIT = '$90,071,992,547,409.91';

  it('refuses an initialCapital past the exact range up front', async () => {
    const res = await refused(project({ initialCapital: '999999999999999.00', years: 30 }));
    expect(res.status).toBe(422);
    expect(res.problem).toMatchObject({ status: 422, code: 'OutOfRange', errors: [{ path: 'body.initialCapital' }] });
    expect(res.problem.detail).toBe(`initialCapital is above ${LIMIT}, the largest amount a projection computes exactly; lower initialCapital`);
  });

  it('refuses growth past the exact range, naming the year and how many years stay exact', async () => {
    const body = { initialCapital: '100000.00', years: 5, settings: { weeklyReturns: { gen: '0.5', rev: '0.5', com: '0.5' } } };
    const res = await refused(project(body));
    expect(res.status).toBe(422);
    expect(res.problem.errors).toEqual([{ path: 'body.years', message: res.problem.detail }]);
    expect(res.problem.detail).toMatch(/^the projection would exceed \$90,071,992,547,409\.91, the largest amount it computes exactly, in year 2 \(week \d+\); lower initialCapital or years \(it stays exact for 1 year\)$/);
    await expect(project({ ...body, years: 1 })).resolves.toMatchObject({ years: [expect.any(Object)] });
    // Growth past the range within the first year: only a lower capital helps.
    const big = await refused(project({ initialCapital: '90000000000000.00', years: 1 }));
    expect(big.status).toBe(422);
    expect(big.problem.errors![0]!.path).toBe('body.initialCapital');
  });

  it('documents the limits in the OpenAPI description of the fields', async () => {
    const doc = (await api.call('GET', '/openapi.json', { key: null })).body;
    const post = doc.paths['/v1/projections'].post;
    expect(post.responses['422'].description).toContain(LIMIT);
    const schema = post.requestBody.content['application/json'].schema;
    const props = (schema.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] : schema).properties;
    expect(props.initialCapital.description).toContain('90071992547409.91');
    expect(props.years.description).toContain('90071992547409.91');
    const get = doc.paths['/v1/portfolios/{id}/projection'].get;
    expect(get.responses['422']).toBeDefined();
    expect(get.parameters.find((q: { name: string }) => q.name === 'years').schema.description ?? get.parameters.find((q: { name: string }) => q.name === 'years').description).toContain('90071992547409.91');
  });

  it('answers 422 for an existing portfolio too large to project, at the start or in a later year', async () => {
    const huge = await h.portfolio('999999999999999.00');
    const start = await refused(projectionOf(huge.id));
    expect(start.status).toBe(422);
    expect(start.problem).toMatchObject({ code: 'OutOfRange', errors: [{ path: 'params.id' }] });
    expect(start.problem.detail).toContain(LIMIT);

    // $20 trillion grows past $90 trillion within 10 years, not within 1.
    const large = await h.portfolio('20000000000000.00');
    const later = await refused(projectionOf(large.id, { years: 10 }));
    expect(later.status).toBe(422);
    expect(later.problem.errors![0]!.path).toBe('query.years');
    expect(later.problem.detail).toMatch(/; lower years \(it stays exact for \d+ years?\)$/);
    await expect(projectionOf(large.id, { years: 1 })).resolves.toMatchObject({ years: [expect.any(Object)] });
  });

  it('gives the fork dry run the reason instead of a predicted impact it cannot compute exactly', async () => {
    const service = new ProjectionService(db.orm);
    const huge = await h.portfolio('999999999999999.00');
    await h.activity(huge.gen, 'premium', '50001.01');
    await expect(service.forkImpact(huge.id, huge.gen, money('50001.01'))).rejects.toBeInstanceOf(ProjectionRangeError);
    const fields = await service.predictedImpactFields(huge.id, huge.gen, money('50001.01'));
    expect(fields).toEqual({
      predictedImpactUnavailable: `the 5-year projection behind the predicted impact cannot be computed exactly: an amount at the start is above ${LIMIT}, the largest amount a projection computes exactly`,
    });

    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const ok = await service.predictedImpactFields(p.id, p.gen, money('50001.01'));
    expect(ok).toMatchObject({ predictedImpact: { horizonYears: 5, withFork: { total: expect.any(String) } } });

    // Through the API: still a 200 dry run, with the reason in place of the impact.
    const dry = await api.call('POST', `/v1/accounts/${huge.gen}/fork`, { body: { dryRun: true } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ eligible: true, surplus: '50001.01', predictedImpactUnavailable: (fields as { predictedImpactUnavailable: string }).predictedImpactUnavailable });
    expect(dry.body.predictedImpact).toBeUndefined();
  });
});
