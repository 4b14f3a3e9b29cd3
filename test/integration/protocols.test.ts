import { type ProtocolStack, startProtocolStack } from '../support/stack';

let stack: ProtocolStack;
let api: ProtocolStack['api'];
let h: ProtocolStack['h'];

beforeAll(async () => {
  stack = await startProtocolStack();
  ({ api, h } = stack);
});
afterAll(() => stack?.stop());

describe('fork', () => {
  it('forks a $50,001.01 surplus into Gen 25000.51 + Com 25000.50 and returns the parent to its base', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');

    const dry = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: { dryRun: true } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ eligible: true, surplus: '50001.01', plan: { forkAmount: '50001.01', retained: '0.00', childGen: '25000.51', childCom: '25000.50' } });

    const started = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { key: api.keys.operator, body: { reason: 'weekly check' } });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ operationId: `fork-${p.gen}-1`, type: 'fork', status: 'running' });
    const op = await h.waitFor(started.body.operationId);
    expect(op.status).toBe('completed');
    expect(op.steps.map((s: { name: string }) => s.name)).toEqual([
      'check-eligibility', 'debit-parent', 'create-unit', 'open-broker-accounts', 'broker-transfer', 'fund-children', 'complete',
    ]);
    expect(op.steps.every((s: { status: string }) => s.status === 'completed')).toBe(true);

    const parent = await h.account(p.gen);
    expect(parent).toMatchObject({ balance: '120000.00', baseBalance: '120000.00', surplus: '0.00', status: 'active' });
    const tree = (await api.call('GET', `/v1/portfolios/${p.id}`)).body;
    expect(tree.totals).toEqual({ balance: '350001.01', inFlight: '0.00' });
    const child = tree.units.find((u: { kind: string }) => u.kind === 'forked');
    expect(child).toMatchObject({ parentUnitId: p.rootUnitId, forkedFromAccountId: p.gen, status: 'active' });
    const byType = Object.fromEntries(child.accounts.map((a: { type: string }) => [a.type, a]));
    expect(byType.gen).toMatchObject({ balance: '25000.51', baseBalance: '25000.51', parentAccountId: p.gen, buckets: { cash: '1250.03', contracts: '23750.48' } });
    expect(byType.com).toMatchObject({ balance: '25000.50', baseBalance: '25000.50', buckets: { cash: '1250.03', contracts: '23750.47' } });

    const events = await api.call('GET', `/v1/portfolios/${p.id}/events?type=fork`);
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({ status: 'completed', surplus: '50001.01', childGen: '25000.51', trigger: 'manual', workflowId: started.body.operationId });
    expect((await h.integrity(p.id)).ok).toBe(true);

    // The same account is now in its cooling period and has no surplus.
    const again = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} });
    expect(again.status).toBe(422);
    expect(again.body.reasons.join(' ')).toMatch(/below the fork threshold/);
  });

  it('starts one fork for two concurrent requests; the other gets 409 with its operation id', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '60000.00');
    const [a, b] = await Promise.all([
      api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} }),
      api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const loser = a.status === 409 ? a : b;
    const winner = a.status === 202 ? a : b;
    expect(loser.body.operationId).toBe(winner.body.operationId);
    expect((await h.waitFor(winner.body.operationId)).status).toBe('completed');
    const tree = (await api.call('GET', `/v1/portfolios/${p.id}`)).body;
    expect(tree.units.filter((u: { kind: string }) => u.kind === 'forked')).toHaveLength(1);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('refuses an ineligible fork with 422 and its reasons, and a Rev-Acc fork', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '49999.99');
    const res = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} });
    expect(res.status).toBe(422);
    expect(res.body.reasons).toEqual(['surplus 49999.99 is below the fork threshold 50000.00']);
    expect((await api.call('POST', `/v1/accounts/${p.rev}/fork`, { body: {} })).status).toBe(422);
  });
});

describe('merge', () => {
  it("merges a unit reaching $500,000.00 into its parent unit's Com-Acc, all or nothing", async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const fork = await api.call('POST', `/v1/accounts/${p.gen}/fork`, { body: {} });
    const forked = (await h.waitFor(fork.body.operationId)).result.summary;
    // Child unit 50001.01 + 449998.99 = 500000.00 (most of it in contracts, which the merge closes first).
    await h.activity(forked.newGenAccountId, 'premium', '449998.99');

    const early = await api.call('POST', `/v1/units/${forked.newUnitId}/merge`, { body: { dryRun: true } });
    expect(early.body).toMatchObject({ eligible: true, total: '500000.00' });

    const started = await api.call('POST', `/v1/units/${forked.newUnitId}/merge`, { body: { reason: 'threshold' } });
    expect(started.status).toBe(202);
    expect(started.body.operationId).toBe(`merge-${forked.newUnitId}`);
    const op = await h.waitFor(started.body.operationId);
    expect(op.status).toBe('completed');

    const rootCom = await h.account(p.com);
    expect(rootCom.balance).toBe('590000.00');
    for (const id of [forked.newGenAccountId, forked.newComAccountId]) {
      expect(await h.account(id)).toMatchObject({ balance: '0.00', status: 'merged' });
    }
    const tree = (await api.call('GET', `/v1/portfolios/${p.id}`)).body;
    expect(tree.units.find((u: { id: string }) => u.id === forked.newUnitId).status).toBe('merged');
    expect(tree.totals.balance).toBe('800000.00');
    const events = (await api.call('GET', `/v1/portfolios/${p.id}/events?type=merge`)).body.items;
    expect(events[0]).toMatchObject({ status: 'completed', total: '500000.00', targetAccountId: p.com });
    expect((await h.integrity(p.id)).ok).toBe(true);

    // A second merge of the same unit is refused (the first completed under the same business key).
    expect((await api.call('POST', `/v1/units/${forked.newUnitId}/merge`, { body: {} })).status).toBe(422);
  });

  it('refuses to merge a root unit or a unit below the threshold', async () => {
    const p = await h.portfolio();
    const res = await api.call('POST', `/v1/units/${p.rootUnitId}/merge`, { body: {} });
    expect(res.status).toBe(422);
    expect(res.body.reasons).toContain('only a forked unit merges');
  });
});

describe('reinvestment', () => {
  it('moves the cash above the buffer 75/25 into contracts and LEAPS, once per quarter', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    // Rev: balance 100000.00, cash 14500.00, buffer 5000.00 -> 9500.00 reinvestable -> 7125.00 / 2375.00
    const dry = await api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3', dryRun: true } });
    expect(dry.body).toMatchObject({ eligible: true, plan: { strategy: 'standard', reinvestable: '9500.00', contracts: '7125.00', leaps: '2375.00' } });
    const started = await api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3' } });
    expect(started.status).toBe(202);
    expect(started.body.operationId).toBe(`reinvest-${p.rev}-2026Q3`);
    expect((await h.waitFor(started.body.operationId)).status).toBe('completed');
    expect((await h.account(p.rev)).buckets).toEqual({ cash: '5000.00', contracts: '92625.00', leaps: '2375.00', reserve: '0.00' });

    const twice = await api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3' } });
    expect(twice.status).toBe(409);
    expect(twice.body.operationId).toBe(started.body.operationId);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('uses the chosen strategy and the tax reserve', async () => {
    const p = await h.portfolio('300000.00', { taxReservePct: '0.3' });
    await h.activity(p.com, 'premium', '10000.00');
    // reinvestable 9500.00 -> reserve 2850.00, invested 6650.00 -> balanced 3325.00 / 3325.00
    const started = await api.call('POST', `/v1/accounts/${p.com}/reinvest`, { body: { quarter: '2026Q2', strategy: 'balanced' } });
    expect((await h.waitFor(started.body.operationId)).status).toBe('completed');
    expect((await h.account(p.com)).buckets).toEqual({ cash: '5000.00', contracts: '88825.00', leaps: '3325.00', reserve: '2850.00' });
    const ev = (await api.call('GET', `/v1/portfolios/${p.id}/events?type=reinvestment`)).body.items[0];
    expect(ev).toMatchObject({ strategy: 'balanced', reserve: '2850.00', contracts: '3325.00', leaps: '3325.00', status: 'completed', quarter: '2026Q2' });
  });

  it('records a skip below the minimum, and refuses a Gen-Acc and a future quarter', async () => {
    const p = await h.portfolio();
    const started = await api.call('POST', `/v1/accounts/${p.com}/reinvest`, { body: { quarter: '2026Q1' } });
    const op = await h.waitFor(started.body.operationId);
    expect(op.status).toBe('completed');
    expect(op.result.status).toBe('skipped');
    expect((await api.call('GET', `/v1/portfolios/${p.id}/events?type=reinvestment`)).body.items[0]).toMatchObject({ status: 'skipped' });
    expect((await api.call('POST', `/v1/accounts/${p.gen}/reinvest`, { body: { quarter: '2026Q1' } })).status).toBe(422);
    expect((await api.call('POST', `/v1/accounts/${p.com}/reinvest`, { body: { quarter: '2099Q1' } })).status).toBe(400);
  });
});

describe('operations API', () => {
  it('lists operations by portfolio and type, and 404s an unknown one', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '5000.00');
    const started = await api.call('POST', `/v1/accounts/${p.rev}/reinvest`, { body: { quarter: '2026Q3' } });
    await h.waitFor(started.body.operationId);
    let items: { operationId: string }[] = [];
    for (let i = 0; i < 40 && items.length === 0; i++) {
      items = (await api.call('GET', `/v1/operations?portfolioId=${p.id}&type=reinvestment`)).body.items;
      if (items.length === 0) await new Promise((r) => setTimeout(r, 250)); // visibility is eventually consistent
    }
    expect(items.map((i) => i.operationId)).toEqual([started.body.operationId]);
    expect((await api.call('GET', `/v1/operations/fork-${p.gen}-99`)).status).toBe(404);
    expect((await api.call('GET', '/v1/operations/nonsense')).status).toBe(400);
  });
});
