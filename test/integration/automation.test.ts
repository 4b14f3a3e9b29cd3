import { ok } from '../../src/client';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/infra/logger';
import { ensureSchedules } from '../../src/schedules';
import { SCHEDULE_IDS } from '../../src/shared/operations';
import { type ForkResult, type ReinvestResult, type ScanReport, okWith, refused, statusOf } from '../support/engine';
import { useProtocolStack } from '../support/stack';

const stack = useProtocolStack();
const { db, api, h } = stack;

/** The schedules (the API documents their items as free-form). */
interface Schedule { id: string; paused: boolean; spec: { timezone?: string }; nextActionTimes: string[] }
const schedules = async (client = api.client) => (await ok(client.GET('/v1/schedules'))).items as unknown as Schedule[];

const count = async (sql: string, params: unknown[]) =>
  Number((await db.orm.em.fork().execute<{ n: string }[]>(sql, params))[0]!.n);

describe('threshold scan', () => {
  it('forks an account that crossed the threshold and merges a unit that reached $500,000, with no manual call', async () => {
    const p = await h.portfolio();
    const q = await h.portfolio();
    await h.activity(p.gen, 'premium', '50000.00');
    await h.activity(q.gen, 'premium', '49999.99');

    const scan = await okWith(202, api.as('operator').POST('/v1/scans', { body: { portfolioId: p.id } }));
    expect(scan.type).toBe('scan');
    const done = await h.waitFor<ScanReport>(scan.operationId);
    expect(done.status).toBe('completed');
    expect(done.result.started).toEqual([{ operationId: `fork-${p.gen}-1`, type: 'fork' }]);
    const fork = await h.waitFor<ForkResult>(`fork-${p.gen}-1`);
    expect(fork.status).toBe('completed');
    const events = await ok(api.client.GET('/v1/portfolios/{id}/events', { params: { path: { id: p.id }, query: { type: 'fork' } } }));
    expect(events.items[0]).toMatchObject({ trigger: 'scan', actor: expect.stringMatching(/^api-key:/) });

    // The forked unit grows to the merge threshold; the next scan merges it.
    await h.activity(fork.result.summary.newGenAccountId, 'premium', '450000.00');
    const scan2 = await h.scan({ portfolioId: p.id, kinds: ['merge'] });
    expect(scan2.result.started).toEqual([{ operationId: `merge-${fork.result.summary.newUnitId}`, type: 'merge' }]);
    expect((await h.waitFor(`merge-${fork.result.summary.newUnitId}`)).status).toBe('completed');
    expect((await h.account(p.com)).balance).toBe('590000.00');
    expect((await h.integrity(p.id)).ok).toBe(true);
    expect(await count('select count(*) as n from forking_events where portfolio_id = ?', [q.id])).toBe(0);
  });

  it('never doubles up with a manual fork of the same account', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '60000.00');
    const manual = await h.startFork(p.gen);
    const scan = await h.scan({ portfolioId: p.id });
    await h.waitFor(manual);
    expect(scan.result.started).toEqual([]);
    expect(await count(`select count(*) as n from forking_events where parent_account_id = ? and status = 'completed'`, [p.gen])).toBe(1);
    expect((await h.integrity(p.id)).ok).toBe(true);
  });

  it('honours maxForksPerDay and reports what it skipped', async () => {
    const p = await h.portfolio('300000.00', { maxForksPerDay: 0 });
    await h.activity(p.gen, 'premium', '60000.00');
    const scan = await h.scan({ portfolioId: p.id });
    expect(scan.result.started).toEqual([]);
    expect(scan.result.skipped).toEqual([{ id: p.gen, type: 'fork', reason: 'the portfolio reached its forks-per-day limit (0 of 0 today)' }]);
  });

  it('404s a scan of an unknown portfolio and 400s a bad kind', async () => {
    expect((await refused(h.startScan({ portfolioId: '0190b6f0-0000-7000-8000-000000000000' }))).status).toBe(404);
    // A kind the API does not know: the typed client would not send it.
    expect((await api.call('POST', '/v1/scans', { body: { kinds: ['fork', 'nope'] } })).status).toBe(400);
  });
});

describe('quarterly reinvestment workflow', () => {
  it('starts one reinvestment per active Rev-Acc and Com-Acc, and nothing new on a second run', async () => {
    const p = await h.portfolio();
    await h.activity(p.rev, 'premium', '10000.00');
    const run = () =>
      api.temporal.workflow.execute('quarterlyReinvestment', {
        workflowId: `quarterly-test-${p.id}-${Date.now()}`, taskQueue: stack.queue, args: [{ quarter: '2026Q3', portfolioId: p.id, actor: 'test' }],
      });
    expect(await run()).toEqual({ quarter: '2026Q3', started: 2, skipped: 0 });
    const rev = await h.waitFor<ReinvestResult>(`reinvest-${p.rev}-2026Q3`);
    expect(rev.result.status).toBe('completed');
    expect((await h.waitFor<ReinvestResult>(`reinvest-${p.com}-2026Q3`)).result.status).toBe('skipped');
    expect(await run()).toEqual({ quarter: '2026Q3', started: 0, skipped: 2 });
    expect(await count('select count(*) as n from reinvestment_events where portfolio_id = ?', [p.id])).toBe(2);
  });
});

describe('schedules', () => {
  it('creates both schedules idempotently, lists them, pauses, resumes and triggers the scan', async () => {
    const config = loadConfig({ ...process.env, TEMPORAL_TASK_QUEUE: stack.queue, SCAN_INTERVAL_MINUTES: '15', REINVEST_TIMEZONE: 'America/New_York' });
    await ensureSchedules(api.temporal, config, silentLogger);
    await ensureSchedules(api.temporal, config, silentLogger);
    const list = await schedules(api.as('viewer'));
    expect(list.map((s) => s.id).sort()).toEqual([SCHEDULE_IDS.quarterly, SCHEDULE_IDS.scan].sort());
    const quarterly = list.find((s) => s.id === SCHEDULE_IDS.quarterly)!;
    expect(quarterly.spec.timezone).toBe('America/New_York');
    expect(quarterly.nextActionTimes.length).toBeGreaterThan(0);

    const act = (action: 'pause' | 'unpause' | 'trigger', scheduleId: string, client = api.client) =>
      statusOf(client.POST(`/v1/schedules/{scheduleId}/${action}`, { params: { path: { scheduleId } } }));
    expect(await act('pause', SCHEDULE_IDS.scan, api.as('operator'))).toBe(403);
    expect(await act('pause', SCHEDULE_IDS.scan)).toBe(202);
    const paused = (await schedules()).find((s) => s.id === SCHEDULE_IDS.scan)!;
    expect(paused.paused).toBe(true);
    expect(await act('unpause', SCHEDULE_IDS.scan)).toBe(202);
    expect(await act('trigger', 'not-ours')).toBe(404);

    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '55000.00');
    expect(await act('trigger', SCHEDULE_IDS.scan)).toBe(202);
    const fork = await h.waitFor(`fork-${p.gen}-1`, 60_000).catch(async () => {
      throw new Error(`scheduled scan did not fork: ${JSON.stringify(await schedules())}`);
    });
    expect(fork.status).toBe('completed');
    await api.temporal.schedule.getHandle(SCHEDULE_IDS.scan).delete();
    await api.temporal.schedule.getHandle(SCHEDULE_IDS.quarterly).delete();
  });
});
