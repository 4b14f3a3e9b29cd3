import { type AlluseClient, type Schemas, ok } from '../../src/client';
import { eventually, okWith, refused, statusOf } from '../support/engine';
import { useProtocolStack } from '../support/stack';

const { api, h } = useProtocolStack();

const forkAs = (client: AlluseClient, accountId: string, body: { reason?: string; dryRun?: boolean } = {}) =>
  client.POST('/v1/accounts/{id}/fork', { params: { path: { id: accountId } }, body });
const events = async (portfolioId: string, type: 'fork' | 'merge' | 'reinvestment') =>
  (await ok(api.client.GET('/v1/portfolios/{id}/events', { params: { path: { id: portfolioId }, query: { type } } }))).items;

describe('fork', () => {
  it('forks a $50,001.01 surplus into Gen 25000.51 + Com 25000.50 and returns the parent to its base', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');

    const dry = await okWith(200, forkAs(api.client, p.gen, { dryRun: true }));
    expect(dry).toMatchObject({ eligible: true, surplus: '50001.01', plan: { forkAmount: '50001.01', retained: '0.00', childGen: '25000.51', childCom: '25000.50' } });

    const started = await okWith(202, forkAs(api.as('operator'), p.gen, { reason: 'weekly check' })) as Schemas['OperationStarted'];
    // The 202 may also carry the fixed plan (bounded wait; test/integration/start-plan.test.ts covers it).
    expect(started).toMatchObject({ operationId: `fork-${p.gen}-1`, type: 'fork', status: 'running' });
    const op = await h.waitFor(started.operationId);
    expect(op.status).toBe('completed');
    expect(op.steps.map((step) => step.name)).toEqual([
      'check-eligibility', 'debit-parent', 'create-unit', 'open-broker-accounts', 'broker-transfer', 'fund-children', 'complete',
    ]);
    expect(op.steps.every((step) => step.status === 'completed')).toBe(true);

    const parent = await h.account(p.gen);
    expect(parent).toMatchObject({ balance: '120000.00', baseBalance: '120000.00', surplus: '0.00', status: 'active' });
    const tree = await h.tree(p.id);
    expect(tree.totals).toEqual({ balance: '350001.01', inFlight: '0.00' });
    const child = tree.units.find((u) => u.kind === 'forked')!;
    expect(child).toMatchObject({ parentUnitId: p.rootUnitId, forkedFromAccountId: p.gen, status: 'active' });
    const byType = Object.fromEntries(child.accounts.map((a) => [a.type, a]));
    expect(byType.gen).toMatchObject({ balance: '25000.51', baseBalance: '25000.51', parentAccountId: p.gen, buckets: { cash: '1250.03', contracts: '23750.48' } });
    expect(byType.com).toMatchObject({ balance: '25000.50', baseBalance: '25000.50', buckets: { cash: '1250.03', contracts: '23750.47' } });

    const forks = await events(p.id, 'fork');
    expect(forks).toHaveLength(1);
    expect(forks[0]).toMatchObject({ status: 'completed', surplus: '50001.01', childGen: '25000.51', trigger: 'manual', workflowId: started.operationId });
    expect((await h.integrity(p.id)).ok).toBe(true);

    // The same account is now in its cooling period and has no surplus.
    const again = await refused(h.startFork(p.gen));
    expect(again.status).toBe(422);
    expect(again.problem.reasons!.join(' ')).toMatch(/below the fork threshold/);
  });

  it('starts one fork for two concurrent requests; the other gets 409 with its operation id', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '60000.00');
    const [a, b] = await Promise.all([forkAs(api.client, p.gen), forkAs(api.client, p.gen)]);
    expect([a.response.status, b.response.status].sort()).toEqual([202, 409]);
    const [winner, loser] = a.response.status === 202 ? [a, b] : [b, a];
    const operationId = (winner.data as Schemas['OperationStarted']).operationId;
    expect(loser.error?.operationId).toBe(operationId);
    expect((await h.waitFor(operationId)).status).toBe('completed');
    const tree = await h.tree(p.id);
    expect(tree.units.filter((u) => u.kind === 'forked')).toHaveLength(1);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('refuses an ineligible fork with 422 and its reasons, and a Rev-Acc fork', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '49999.99');
    const res = await refused(h.startFork(p.gen));
    expect(res.status).toBe(422);
    expect(res.problem.reasons).toEqual(['surplus 49999.99 is below the fork threshold 50000.00']);
    expect((await refused(h.startFork(p.rev))).status).toBe(422);
  });
});

describe('merge', () => {
  it("merges a unit reaching $500,000.00 into its parent unit's Com-Acc, all or nothing", async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const forked = await h.forked(p.gen);
    // Child unit 50001.01 + 449998.99 = 500000.00 (most of it in contracts, which the merge closes first).
    await h.activity(forked.newGenAccountId, 'premium', '449998.99');

    const merge = (body: { reason?: string; dryRun?: boolean }) => api.client.POST('/v1/units/{id}/merge', { params: { path: { id: forked.newUnitId } }, body });
    expect(await okWith(200, merge({ dryRun: true }))).toMatchObject({ eligible: true, total: '500000.00' });

    const started = await okWith(202, merge({ reason: 'threshold' })) as Schemas['OperationStarted'];
    expect(started.operationId).toBe(`merge-${forked.newUnitId}`);
    const op = await h.waitFor(started.operationId);
    expect(op.status).toBe('completed');

    const rootCom = await h.account(p.com);
    expect(rootCom.balance).toBe('590000.00');
    for (const id of [forked.newGenAccountId, forked.newComAccountId]) {
      expect(await h.account(id)).toMatchObject({ balance: '0.00', status: 'merged' });
    }
    const tree = await h.tree(p.id);
    expect(tree.units.find((u) => u.id === forked.newUnitId)!.status).toBe('merged');
    expect(tree.totals.balance).toBe('800000.00');
    expect((await events(p.id, 'merge'))[0]).toMatchObject({ status: 'completed', total: '500000.00', targetAccountId: p.com });
    expect((await h.integrity(p.id)).ok).toBe(true);

    // A second merge of the same unit is refused (the first completed under the same business key).
    expect((await refused(h.startMerge(forked.newUnitId))).status).toBe(422);
  });

  it('refuses to merge a root unit or a unit below the threshold', async () => {
    const p = await h.portfolio();
    const res = await refused(h.startMerge(p.rootUnitId));
    expect(res.status).toBe(422);
    expect(res.problem.reasons).toContain('only a forked unit merges');
  });
});

describe('reinvestment', () => {
  it('moves the cash above the buffer 75/25 into contracts and LEAPS, once per quarter', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    // Rev: balance 100000.00, cash 14500.00, buffer 5000.00 -> 9500.00 reinvestable -> 7125.00 / 2375.00
    const dry = await okWith(200, api.client.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: p.rev } }, body: { quarter: '2026Q3', dryRun: true } }));
    expect(dry).toMatchObject({ eligible: true, plan: { strategy: 'standard', reinvestable: '9500.00', contracts: '7125.00', leaps: '2375.00' } });
    const started = await h.startReinvest(p.rev, { quarter: '2026Q3' });
    expect(started).toBe(`reinvest-${p.rev}-2026Q3`);
    expect((await h.waitFor(started)).status).toBe('completed');
    expect((await h.account(p.rev)).buckets).toEqual({ cash: '5000.00', contracts: '92625.00', leaps: '2375.00', reserve: '0.00' });

    const twice = await refused(h.startReinvest(p.rev, { quarter: '2026Q3' }));
    expect(twice.status).toBe(409);
    expect(twice.problem.operationId).toBe(started);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('uses the chosen strategy and the tax reserve', async () => {
    const p = await h.portfolio('300000.00', { taxReservePct: '0.3' });
    await h.activity(p.com, 'premium', '10000.00');
    // reinvestable 9500.00 -> reserve 2850.00, invested 6650.00 -> balanced 3325.00 / 3325.00
    expect((await h.reinvest(p.com, { quarter: '2026Q2', strategy: 'balanced' })).status).toBe('completed');
    expect((await h.account(p.com)).buckets).toEqual({ cash: '5000.00', contracts: '88825.00', leaps: '3325.00', reserve: '2850.00' });
    expect((await events(p.id, 'reinvestment'))[0]).toMatchObject({ strategy: 'balanced', reserve: '2850.00', contracts: '3325.00', leaps: '3325.00', status: 'completed', quarter: '2026Q2' });
  });

  it('records a skip below the minimum, and refuses a Gen-Acc and a future quarter', async () => {
    const p = await h.portfolio();
    const op = await h.reinvest(p.com, { quarter: '2026Q1' });
    expect(op.status).toBe('completed');
    expect(op.result.status).toBe('skipped');
    expect((await events(p.id, 'reinvestment'))[0]).toMatchObject({ status: 'skipped' });
    expect((await refused(h.startReinvest(p.gen, { quarter: '2026Q1' }))).status).toBe(422);
    expect((await refused(h.startReinvest(p.com, { quarter: '2099Q1' }))).status).toBe(400);
  });
});

describe('operations API', () => {
  it('lists operations by portfolio and type, and 404s an unknown one', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '5000.00');
    const started = await h.startReinvest(p.rev, { quarter: '2026Q3' });
    await h.waitFor(started);
    // Visibility is eventually consistent.
    const items = await eventually('the reinvestment in the operations list', async () => {
      const listed = (await ok(api.client.GET('/v1/operations', { params: { query: { portfolioId: p.id, type: 'reinvestment' } } }))).items;
      return listed.length > 0 && listed;
    });
    expect(items.map((i) => i.operationId)).toEqual([started]);
    const operation = (operationId: string) => api.client.GET('/v1/operations/{operationId}', { params: { path: { operationId } } });
    expect(await statusOf(operation(`fork-${p.gen}-99`))).toBe(404);
    expect(await statusOf(operation('nonsense'))).toBe(400);
  });
});
