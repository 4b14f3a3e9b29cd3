/**
 * `npm run test:chaos -- --scenarios`: the fixed scenarios, one fault each,
 * against a real stack (the seeded run in seeded.ts mixes them). Each scenario
 * prepares portfolios, starts a load of forks, merges and reinvestments,
 * injects one fault, lets the system recover, and checks every operation:
 * completed or compensated (nothing lost, nothing in between), no step that
 * moved money twice, and the integrity check of every portfolio.
 * Prints a table and writes it to chaos/results/scenarios.md. Fails on a
 * loss, a duplicate or a failed integrity check.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import { buildServices } from '../src/bootstrap';
import { SCHEDULE_IDS } from '../src/shared/operations';
import { migrate, openOrm } from '../src/db/orm';
import { money } from '../src/domain/money';
import { type EmbeddedPg, startEmbeddedPostgres } from '../src/infra/embedded-postgres';
import { silentLogger } from '../src/infra/logger';
import { connectClient, ensureSearchAttributes } from '../src/infra/temporal';
import { type DevServer, startTemporalDevServer } from '../src/infra/temporal-dev-server';
import { freePort } from '../test/support/ports';
import { killHard, spawnWorker } from '../test/support/worker-process';

interface Scenario {
  name: string;
  workerEnv?: Record<string, string>;
  fault?: (ctx: Ctx) => Promise<void>;
}
interface Ctx {
  restartPostgres(): Promise<void>;
  restartTemporal(): Promise<void>;
  killWorker(): Promise<void>;
}
interface Result {
  scenario: string;
  attempted: number;
  completed: number;
  compensated: number;
  lost: number;
  duplicated: number;
  integrity: string;
  seconds: string;
}

const log = (m: string) => process.stderr.write(`[chaos] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SCENARIOS: Scenario[] = [
  { name: 'kill -9 the worker mid-load, start a new one', fault: (c) => c.killWorker() },
  { name: 'restart PostgreSQL mid-load', fault: (c) => c.restartPostgres() },
  { name: 'restart the Temporal dev server mid-load', fault: (c) => c.restartTemporal() },
  { name: 'paper broker failing 30% of calls, timing out 10%', workerEnv: { PAPER_BROKER_FAILURE_RATE: '0.3', PAPER_BROKER_TIMEOUT_RATE: '0.1' } },
];

export async function runScenarios(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-chaos-'));
  chmodSync(dir, 0o711);
  const pgPort = await freePort();
  const tPort = await freePort();
  const uiPort = await freePort();
  let pg: EmbeddedPg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg-data'), port: pgPort, log: silentLogger });
  let temporal: DevServer = await startTemporalDevServer({ dataDir: join(dir, 't'), port: tPort, uiPort, namespace: 'default', headless: true, log: silentLogger });
  const results: Result[] = [];
  try {
    for (const [i, scenario] of SCENARIOS.entries()) {
      log(scenario.name);
      const dbName = `chaos_${i}`;
      await pg.createDatabase(dbName);
      const url = pg.urlFor(dbName);
      const orm = await openOrm(url, 20);
      await migrate(orm);
      const client = await connectClient(temporal.address, 'default');
      await ensureSearchAttributes(client, 'default', silentLogger);
      const queue = `chaos-${i}-${Date.now()}`;
      const env = { DATABASE_URL: url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: queue, PAPER_BROKER_LATENCY_MS: '150', ...scenario.workerEnv };
      let worker: ChildProcess = await spawnWorker(env);
      // The worker creates the engine's schedules; a scheduled scan would race this load, so they are paused here.
      for (const id of Object.values(SCHEDULE_IDS)) {
        for (let t = 0; ; t++) {
          const paused = await client.schedule.getHandle(id).pause('chaos run').then(() => true, () => false);
          if (paused) break;
          if (t > 100) throw new Error(`schedule ${id} never appeared`);
          await sleep(100);
        }
      }
      const ctx: Ctx = {
        killWorker: async () => {
          await killHard(worker);
          await sleep(500);
          worker = await spawnWorker(env);
        },
        restartPostgres: async () => {
          await pg.stop();
          await sleep(1000);
          pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg-data'), port: pgPort, log: silentLogger });
        },
        restartTemporal: async () => {
          await temporal.stop();
          await sleep(1000);
          temporal = await startTemporalDevServer({ dataDir: join(dir, 't'), port: tPort, uiPort, namespace: 'default', headless: true, log: silentLogger });
        },
      };
      try {
        results.push(await runScenario(scenario, ctx, orm, client, queue));
      } finally {
        await killHard(worker);
        await client.connection.close().catch(() => undefined);
        await orm.close();
      }
    }
  } finally {
    await temporal.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const header = ['scenario', 'attempted', 'completed', 'compensated', 'lost', 'duplicated', 'integrity', 'seconds'] as const;
  const md = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...results.map((r) => `| ${header.map((h) => r[h]).join(' | ')} |`)].join('\n');
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results/scenarios.md'), `# Chaos scenarios (${new Date().toISOString()})\n\n${md}\n`);
  console.log(md);
  const bad = results.filter((r) => r.lost > 0 || r.duplicated > 0 || r.integrity !== 'ok');
  console.log(bad.length ? `\n${bad.length} scenario(s) FAILED` : `\n${results.length} scenarios passed`);
  return bad.length === 0;
}

async function runScenario(scenario: Scenario, ctx: Ctx, orm: MikroORM, client: Client, queue: string): Promise<Result> {
  const s = buildServices(orm, client, { taskQueue: queue });
  const actor = 'chaos';
  const started = Date.now();
  // Prepare: 8 portfolios ready to fork and reinvest, 6 with a forked unit at $500,000 ready to merge.
  const ready = [];
  for (let i = 0; i < 14; i++) {
    const p = await s.portfolios.create({ name: `c${i}`, owner: 'chaos', initialCapital: money('300000.00'), template: 'moderate', settings: { mergeCoolingHours: 0 } }, actor);
    const acct = (t: string) => p.units[0]!.accounts.find((a) => a.type === t)!.id;
    await s.accounts.recordActivity(acct('gen'), { type: 'premium', amount: money('50001.01') }, 'prep-gen', actor);
    await s.accounts.recordActivity(acct('rev'), { type: 'premium', amount: money('10000.00') }, 'prep-rev', actor);
    ready.push({ id: p.id, gen: acct('gen'), rev: acct('rev') });
  }
  const mergeable: string[] = [];
  for (const p of ready.slice(8)) {
    const summary = await preparedFork(s, client, p.gen, actor);
    await s.accounts.recordActivity(summary.newGenAccountId, { type: 'premium', amount: money('449998.99') }, 'prep-merge', actor);
    mergeable.push(summary.newUnitId);
  }
  // Load: 8 forks, 6 merges, 14 reinvestments at once, then the fault.
  const starts = [
    ...ready.slice(0, 8).map((p) => () => s.protocols.fork(p.gen, {}, actor)),
    ...mergeable.map((u) => () => s.protocols.merge(u, {}, actor)),
    ...ready.map((p) => () => s.protocols.reinvest(p.rev, { quarter: '2026Q3' }, actor)),
  ];
  const ids = (await Promise.all(starts.map((f) => f()))).map((r) => (r.result as { operationId: string }).operationId);
  if (scenario.fault) {
    await sleep(300);
    await scenario.fault(ctx);
  }
  // Recover: wait for every operation to end (the clients reconnect by themselves). Under a broker failing 40% of
  // calls for the whole scenario, a step retried until done backs off to minutes between tries.
  const deadline = Date.now() + 600_000;
  const status = new Map<string, string>();
  while (Date.now() < deadline && status.size < ids.length) {
    for (const id of ids.filter((x) => !status.has(x))) {
      const view = await s.operations.get(id).catch(() => undefined);
      if (view && view.status !== 'running') status.set(id, view.status);
    }
    await sleep(500);
  }
  const completed = [...status.values()].filter((v) => v === 'completed').length;
  const compensated = [...status.values()].filter((v) => v === 'compensated').length;
  const lost = ids.length - completed - compensated;
  for (const id of ids.filter((x) => status.get(x) !== 'completed' && status.get(x) !== 'compensated')) {
    log(`lost: ${id} ${status.get(id) ?? 'still running at the deadline'}`);
  }

  // Duplicates: a step that posted twice (two forward entries of one kind in one operation attempt),
  // a fork with more than one live unit, or an account reinvested twice in the quarter.
  const em = orm.em.fork();
  const [dupEntries] = await em.execute<{ n: string }[]>(
    `select count(*) as n from (select operation_id, kind, split_part(idempotency_key, ':a', 2) as attempt from journal_entries
       where operation_id is not null and kind <> 'reversal' group by 1, 2, 3 having count(*) > 1) d`,
  );
  const [dupUnits] = await em.execute<{ n: string }[]>(
    `select count(*) as n from (select parent_account_id from forking_events f join units u on u.id = f.new_unit_id
       where u.status in ('active','merged') group by f.parent_account_id, f.seq having count(*) > 1) d`,
  );
  const [dupReinvest] = await em.execute<{ n: string }[]>(
    `select count(*) as n from (select account_id from reinvestment_events where status = 'completed' group by account_id, quarter having count(*) > 1) d`,
  );
  const duplicated = Number(dupEntries!.n) + Number(dupUnits!.n) + Number(dupReinvest!.n);
  const reports = await Promise.all(ready.map((p) => s.integrity.check(p.id)));
  const failedChecks = reports.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => c.name));
  // Compensated operations must leave their ledger net zero.
  const [netNonZero] = await em.execute<{ n: string }[]>(
    `select count(*) as n from (select e.operation_id from postings p join journal_entries e on e.id = p.entry_id
       where e.operation_id = any(?::text[]) group by e.operation_id, p.account_id, p.bucket having sum(p.amount) <> 0) d`,
    [`{${ids.filter((id) => status.get(id) === 'compensated').map((x) => `"${x}"`).join(',')}}`],
  );
  return {
    scenario: scenario.name,
    attempted: ids.length,
    completed,
    compensated,
    lost,
    duplicated,
    integrity: failedChecks.length === 0 && Number(netNonZero!.n) === 0 ? 'ok' : `FAILED: ${[...new Set(failedChecks)].join(', ')}${Number(netNonZero!.n) ? ' compensation-not-net-zero' : ''}`,
    seconds: ((Date.now() - started) / 1000).toFixed(0),
  };
}

/**
 * A fork the scenario needs as its starting point. Under a flaky broker a
 * preparation fork may compensate (its broker step ran out of retries); the
 * operator's answer is a new request, so preparation asks again.
 */
async function preparedFork(s: ReturnType<typeof buildServices>, client: Client, genId: string, actor: string) {
  for (let attempt = 1; ; attempt++) {
    const { operationId } = (await s.protocols.fork(genId, {}, actor)).result as { operationId: string };
    try {
      return ((await client.workflow.getHandle(operationId).result()) as { summary: { newUnitId: string; newGenAccountId: string } }).summary;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}
