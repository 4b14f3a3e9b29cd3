/**
 * The end-of-run checks of a seeded chaos run, from what Temporal and
 * PostgreSQL hold (never from the load's own bookkeeping alone):
 *
 * - every fork, merge and reinvestment run on the run's task queue ended
 *   completed, compensated, or refused by its first step (nothing moved);
 *   anything else after the recovery deadline is lost, and so is a protocol
 *   event or account still held mid-operation, and an account or unit still
 *   eligible for a fork or merge that no operation took;
 * - no step moved money twice: per operation and entry kind at most one
 *   forward journal entry that was not reversed; at most one settled broker
 *   transfer or filled order per step across attempts; one live unit per fork;
 *   one completed reinvestment per account and quarter;
 * - each posting key the clients sent: exactly one entry of the amount sent if
 *   the answer was 201, none if it was refused;
 * - the integrity check of every portfolio, and compensated operations net zero.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityDeps } from '../src/activities';
import { createScanActivities } from '../src/activities/scan';
import { PaperBroker } from '../src/broker/paper';
import { DOMAIN_ERROR_TYPES } from '../src/domain/errors';
import { fromDb, money } from '../src/domain/money';
import { LedgerService } from '../src/ledger/ledger';
import { SyntheticMarketData } from '../src/market/provider';
import { IntegrityService } from '../src/services/integrity';
import { COMPENSATED } from '../src/shared/operations';
import type { PostingRecord } from './load';

export type RunEnd = 'completed' | 'compensated' | 'refused' | 'running' | 'failed';

export interface OperationRun {
  workflowId: string;
  runId: string;
  type: string;
  end: RunEnd;
  detail?: string;
}

export interface ClockJumpFacts {
  /** When the offset was written (system clock). */
  at: Date;
  offsetMs: number;
  /** Gen-Accs held back by the 24 h cooling period until the jump. */
  cooledGenIds: string[];
  /** When their preparation forks were done (system clock). */
  preparedAt: Date;
}

export interface Verdict {
  runs: OperationRun[];
  attempted: number;
  completed: number;
  compensated: number;
  refused: number;
  lost: number;
  lostDetails: string[];
  duplicated: number;
  duplicateDetails: string[];
  integrity: string;
  integrityDetails: string[];
  postings: { attempted: number; landed: number; refused: number; problems: string[] };
  clock: string[];
}

const BUSINESS = new Set<string>(DOMAIN_ERROR_TYPES);

/** Every run of a protocol workflow on `taskQueue`, with how it ended. */
export async function operationRuns(client: Client, taskQueue: string): Promise<OperationRun[]> {
  const runs: OperationRun[] = [];
  const query = `TaskQueue = '${taskQueue}' AND WorkflowType IN ('fork', 'merge', 'reinvest')`;
  for await (const wf of client.workflow.list({ query })) {
    const run: OperationRun = { workflowId: wf.workflowId, runId: wf.runId, type: wf.type, end: 'failed' };
    if (wf.status.name === 'RUNNING') run.end = 'running';
    else if (wf.status.name === 'COMPLETED') run.end = 'completed';
    else if (wf.status.name === 'FAILED') {
      const failure = await client.workflow.getHandle(wf.workflowId, wf.runId).result().then(() => undefined, (e: unknown) => e);
      const cause = failure instanceof WorkflowFailedError ? failure.cause : undefined;
      const type = cause instanceof ApplicationFailure ? cause.type ?? '' : '';
      run.end = type === COMPENSATED ? 'compensated' : BUSINESS.has(type) ? 'refused' : 'failed';
      run.detail = `${type || 'failure'}: ${(cause as Error | undefined)?.message ?? ''}`.slice(0, 300);
    } else {
      run.detail = wf.status.name;
    }
    runs.push(run);
  }
  return runs;
}

/** Protocol workflows (and scans) still running on the queue. */
export async function runningCount(client: Client, taskQueue: string): Promise<number> {
  const { count } = await client.workflow.count(`TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`);
  return count;
}

export async function verify(opts: {
  orm: MikroORM;
  client: Client;
  taskQueue: string;
  portfolioIds: string[];
  postings: Iterable<PostingRecord>;
  /** Operation ids the API named to the load (202, or 409 with the running one's id). */
  named: Iterable<string>;
  clock?: ClockJumpFacts;
}): Promise<Verdict> {
  const { orm, client } = opts;
  const em = orm.em.fork();
  const runs = await operationRuns(client, opts.taskQueue);
  const count = (end: RunEnd) => runs.filter((r) => r.end === end).length;
  const lostDetails = runs.filter((r) => r.end === 'running' || r.end === 'failed').map((r) => `${r.workflowId} (${r.runId}): ${r.end} ${r.detail ?? ''}`);
  const known = new Set(runs.map((r) => r.workflowId));
  lostDetails.push(...[...new Set(opts.named)].filter((id) => !known.has(id)).map((id) => `${id}: named by the API, never run`));

  // Held mid-operation after the recovery: an event never closed, an account or unit never released.
  const stuck = await em.execute<{ what: string }[]>(`
    select 'fork event ' || workflow_id as what from forking_events where status = 'started'
    union all select 'merge event ' || workflow_id from merging_events where status = 'started'
    union all select 'reinvestment event ' || workflow_id from reinvestment_events where status = 'started'
    union all select 'account ' || id || ' ' || status from accounts where status in ('forking', 'merging')
    union all select 'unit ' || id || ' ' || status from units where status = 'merging'`);
  lostDetails.push(...stuck.map((s) => `still held: ${s.what}`));

  // Thresholds met that no operation took: the engine's own scan, with the engine's clock, finds nothing left.
  const offset = opts.clock?.offsetMs ?? 0;
  const deps: ActivityDeps = {
    orm, ledger: new LedgerService(orm), broker: new PaperBroker(orm), market: new SyntheticMarketData(), now: () => new Date(Date.now() + offset),
  };
  const scan = createScanActivities(deps);
  const forks = await scan.scanForkCandidates({});
  const merges = await scan.scanMergeCandidates({ scanStartedAt: new Date(Date.now() + offset).toISOString() });
  lostDetails.push(...forks.candidates.map((c) => `fork never taken: account ${c.accountId} is eligible`));
  lostDetails.push(...merges.candidates.map((c) => `merge never taken: unit ${c.unitId} is eligible`));

  const duplicateDetails = await duplicates(orm);
  const clock = opts.clock ? await clockChecks(orm, opts.clock) : [];
  lostDetails.push(...clock.filter((c) => c.startsWith('missed')));
  duplicateDetails.push(...clock.filter((c) => c.startsWith('duplicate')));

  const integrityFailures: string[] = [];
  const integrity = new IntegrityService(orm);
  for (const id of opts.portfolioIds) {
    const report = await integrity.check(id);
    for (const c of report.checks.filter((x) => !x.ok)) integrityFailures.push(`${id}: ${c.name}: ${c.detail}`);
  }
  integrityFailures.push(...await compensatedNotNetZero(orm, runs));
  integrityFailures.push(...clock.filter((c) => c.startsWith('early')));

  const postings = await checkPostings(orm, [...opts.postings]);
  return {
    runs,
    attempted: runs.length,
    completed: count('completed'),
    compensated: count('compensated'),
    refused: count('refused'),
    lost: lostDetails.length,
    lostDetails,
    duplicated: duplicateDetails.length,
    duplicateDetails,
    integrity: integrityFailures.length === 0 ? 'ok' : `FAILED (${integrityFailures.length})`,
    integrityDetails: integrityFailures,
    postings,
    clock,
  };
}

export async function duplicates(orm: MikroORM): Promise<string[]> {
  const em = orm.em.fork();
  const out: string[] = [];
  const entries = await em.execute<{ operation_id: string; kind: string; n: string }[]>(`
    select e.operation_id, e.kind, count(*) as n from journal_entries e
     where e.operation_id is not null and e.kind <> 'reversal'
       and not exists (select 1 from journal_entries r where r.reverses_entry_id = e.id)
     group by 1, 2 having count(*) > 1`);
  out.push(...entries.map((r) => `${r.operation_id}: ${r.n} live '${r.kind}' entries`));
  const broker = await em.execute<{ step: string; n: string }[]>(`
    select step, count(*) as n from (
      select regexp_replace(idempotency_key, ':a[0-9]+:', ':') as step from broker_transfers where status = 'settled'
      union all select regexp_replace(idempotency_key, ':a[0-9]+:', ':') from broker_orders where status = 'filled') s
     group by step having count(*) > 1`);
  out.push(...broker.map((r) => `broker step ${r.step}: done ${r.n} times`));
  const units = await em.execute<{ parent_account_id: string; seq: number; n: string }[]>(`
    select f.parent_account_id, f.seq, count(*) as n from forking_events f join units u on u.id = f.new_unit_id
     where u.status in ('active', 'merged') group by 1, 2 having count(*) > 1`);
  out.push(...units.map((r) => `fork ${r.parent_account_id}#${r.seq}: ${r.n} live units`));
  const reinvest = await em.execute<{ account_id: string; quarter: string; n: string }[]>(`
    select account_id, quarter, count(*) as n from reinvestment_events where status = 'completed' group by 1, 2 having count(*) > 1`);
  out.push(...reinvest.map((r) => `reinvestment ${r.account_id} ${r.quarter}: completed ${r.n} times`));
  return out;
}

/** Operations that never completed in any run must leave every account and bucket where they were. */
async function compensatedNotNetZero(orm: MikroORM, runs: OperationRun[]): Promise<string[]> {
  const completed = new Set(runs.filter((r) => r.end === 'completed').map((r) => r.workflowId));
  const undone = [...new Set(runs.filter((r) => !completed.has(r.workflowId) && r.end !== 'running').map((r) => r.workflowId))];
  if (undone.length === 0) return [];
  const rows = await orm.em.fork().execute<{ operation_id: string }[]>(
    `select distinct e.operation_id from postings p join journal_entries e on e.id = p.entry_id
      where e.operation_id = any(?::text[]) group by e.operation_id, p.account_id, p.bucket having sum(p.amount) <> 0`,
    [`{${undone.map((x) => `"${x}"`).join(',')}}`],
  );
  return rows.map((r) => `${r.operation_id}: compensated but not net zero`);
}

/** The cooled Gen-Accs: no fork between their preparation and the jump, exactly one completed fork after it. */
async function clockChecks(orm: MikroORM, c: ClockJumpFacts): Promise<string[]> {
  const rows = await orm.em.fork().execute<{ parent_account_id: string; status: string; started_at: string }[]>(
    `select parent_account_id, status, started_at from forking_events where parent_account_id = any(?::uuid[]) and started_at > ?`,
    [`{${c.cooledGenIds.join(',')}}`, c.preparedAt],
  );
  const out: string[] = [];
  for (const id of c.cooledGenIds) {
    const mine = rows.filter((r) => r.parent_account_id === id);
    const early = mine.filter((r) => new Date(r.started_at) < c.at);
    const after = mine.filter((r) => new Date(r.started_at) >= c.at && r.status === 'completed');
    if (early.length) out.push(`early fork of cooled account ${id}: ${early.length} started before the clock jump`);
    if (after.length === 0) out.push(`missed fork: cooled account ${id} was not forked after the clock jump`);
    if (after.length > 1) out.push(`duplicate fork: cooled account ${id} forked ${after.length} times after the clock jump`);
  }
  if (out.length === 0) out.push(`ok: none of the ${c.cooledGenIds.length} cooled Gen-Accs forked before the jump; each forked exactly once after it`);
  return out;
}

export async function checkPostings(orm: MikroORM, sent: PostingRecord[]): Promise<Verdict['postings']> {
  const rows = await orm.em.fork().execute<{ idempotency_key: string; entries: string; net: string | null }[]>(
    `select e.idempotency_key, count(distinct e.id) as entries,
            sum(p.amount) filter (where p.account_id::text = split_part(e.idempotency_key, ':', 2)) as net
       from journal_entries e join postings p on p.entry_id = e.id
      where e.idempotency_key = any(?::text[]) group by e.idempotency_key`,
    [`{${sent.map((s) => `"activity:${s.accountId}:${s.key}"`).join(',')}}`],
  );
  const found = new Map(rows.map((r) => [r.idempotency_key, r]));
  const problems: string[] = [];
  let landed = 0;
  let refused = 0;
  for (const s of sent) {
    const row = found.get(`activity:${s.accountId}:${s.key}`);
    const entries = Number(row?.entries ?? 0);
    const expected = s.type === 'fee' ? money(s.amount).neg() : money(s.amount);
    if (entries > 0) landed++;
    if (s.answer === undefined) problems.push(`${s.key}: never answered (${entries ? 'landed' : 'not landed'}; last try: ${s.lastFailure ?? 'none'})`);
    else if (s.answer === 201 && entries !== 1) problems.push(`${s.key}: answered 201, ${entries} entries`);
    else if (s.answer === 201 && !fromDb(row!.net).eq(expected)) problems.push(`${s.key}: answered 201, moved ${row!.net} instead of ${expected.toFixed(2)}`);
    else if (s.answer !== 201 && entries !== 0) problems.push(`${s.key}: answered ${s.answer}, yet ${entries} entries`);
    else if (s.answer !== 201) refused++;
  }
  return { attempted: sent.length, landed, refused, problems };
}
