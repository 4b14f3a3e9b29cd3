/**
 * Records event histories of the workflows (completed and compensated runs)
 * into test/histories/current/, for the replay test that guards determinism.
 * Starts its own throw-away PostgreSQL and Temporal dev server. Run after an
 * intentional workflow change (made behind `patched()`): first move the
 * current histories to a folder named after the last commit without the
 * change (`git mv test/histories/current test/histories/<sha>`), so runs
 * started on the old code stay covered, then `npm run histories:record`.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { temporal as proto } from '@temporalio/proto';
import { buildServices } from '../src/bootstrap';
import { injectBrokerFault } from '../src/broker/paper';
import { loadConfig } from '../src/config';
import { migrate, openOrm } from '../src/db/orm';
import { money } from '../src/domain/money';
import { startEmbeddedPostgres } from '../src/infra/embedded-postgres';
import { silentLogger } from '../src/infra/logger';
import { connectClient, ensureSearchAttributes } from '../src/infra/temporal';
import { startTemporalDevServer } from '../src/infra/temporal-dev-server';
import { installTemporalRuntime, startWorker } from '../src/worker';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-histories-'));
  chmodSync(dir, 0o711);
  const pg = await startEmbeddedPostgres({ dataDir: join(dir, 'pg-data'), port: 54391, log: silentLogger });
  const temporal = await startTemporalDevServer({ dataDir: join(dir, 't'), port: 57391, uiPort: 58391, namespace: 'default', headless: true, log: silentLogger });
  const orm = await openOrm(pg.url);
  await migrate(orm);
  const config = loadConfig({ ...process.env, TEMPORAL_TASK_QUEUE: 'histories' });
  installTemporalRuntime('warn');
  const worker = await startWorker({ config, orm, address: temporal.address, log: silentLogger });
  const client = await connectClient(temporal.address, 'default');
  await ensureSearchAttributes(client, 'default', silentLogger);
  const s = buildServices(orm, client, { taskQueue: 'histories' });
  const out = resolve(__dirname, '../test/histories/current');
  mkdirSync(out, { recursive: true });
  const save = async (name: string, workflowId: string, opts: { wait: boolean } = { wait: true }) => {
    const handle = client.workflow.getHandle(workflowId);
    if (opts.wait) await handle.result().catch(() => undefined);
    // Binary protobuf (base64): replaying it needs no JSON conversion between protobufjs copies.
    const bytes = proto.api.history.v1.History.encode(await handle.fetchHistory()).finish();
    writeFileSync(join(out, `${name}.history.b64`), Buffer.from(bytes).toString('base64'));
    console.log(`recorded ${name} (${workflowId})`);
  };
  try {
    const p = await s.portfolios.create({ name: 'H', owner: 'h', initialCapital: money('300000.00'), template: 'moderate' }, 'recorder');
    const acct = (t: string) => p.units[0]!.accounts.find((a) => a.type === t)!.id;
    await s.accounts.recordActivity(acct('gen'), { type: 'premium', amount: money('50001.01') }, 'h1', 'recorder');
    const fork = (await s.protocols.fork(acct('gen'), {}, 'recorder')).result as { operationId: string };
    await save('fork-completed', fork.operationId);
    const summary = ((await client.workflow.getHandle(fork.operationId).result()) as { summary: { newUnitId: string; newGenAccountId: string } }).summary;
    await s.accounts.recordActivity(summary.newGenAccountId, { type: 'premium', amount: money('449998.99') }, 'h2', 'recorder');
    const merge = (await s.protocols.merge(summary.newUnitId, {}, 'recorder')).result as { operationId: string };
    await save('merge-completed', merge.operationId);
    await s.accounts.recordActivity(acct('rev'), { type: 'premium', amount: money('10000.00') }, 'h3', 'recorder');
    const re = (await s.protocols.reinvest(acct('rev'), { quarter: '2026Q3' }, 'recorder')).result as { operationId: string };
    await save('reinvest-completed', re.operationId);

    const q = await s.portfolios.create({ name: 'H2', owner: 'h', initialCapital: money('300000.00'), template: 'moderate' }, 'recorder');
    const qGen = q.units[0]!.accounts.find((a) => a.type === 'gen')!.id;
    await s.accounts.recordActivity(qGen, { type: 'premium', amount: money('50001.01') }, 'h4', 'recorder');
    await injectBrokerFault(orm, 'transferCash', 1, 'reject');
    const failed = (await s.protocols.fork(qGen, {}, 'recorder')).result as { operationId: string };
    await save('fork-compensated', failed.operationId);

    // Operators in the loop: runs that wait on a person's task (recorded mid-wait), and the same runs decided.
    const openTaskOf = async (operationId: string, title = '') => {
      for (;;) {
        const task = (await s.tasks.list({ operationId, status: 'open' })).find((t) => t.title.includes(title));
        if (task) return task;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const forkable = async (settings: Record<string, unknown>, key: string) => {
      const portfolio = await s.portfolios.create({ name: key, owner: 'h', initialCapital: money('300000.00'), template: 'moderate', settings }, 'recorder');
      const gen = portfolio.units[0]!.accounts.find((a) => a.type === 'gen')!.id;
      await s.accounts.recordActivity(gen, { type: 'premium', amount: money('50001.01') }, key, 'recorder');
      return ((await s.protocols.fork(gen, {}, 'recorder')).result as { operationId: string }).operationId;
    };
    const approval = await forkable({ approvals: { fork: true } }, 'h5');
    const approvalTask = await openTaskOf(approval);
    await save('fork-waiting-approval', approval, { wait: false });
    await s.tasks.decide(approvalTask.id, { decision: 'approve' }, 'recorder');
    await save('fork-approved-completed', approval);
    const manual = await forkable({ broker: 'manual' }, 'h6');
    await s.tasks.decide((await openTaskOf(manual, 'Open')).id, { decision: 'done', brokerReference: 'REC-1' }, 'recorder');
    const transfer = await openTaskOf(manual, 'Transfer');
    await save('fork-waiting-broker', manual, { wait: false });
    await s.tasks.decide(transfer.id, { decision: 'failed', note: 'recorded failure' }, 'recorder');
    await s.tasks.decide((await openTaskOf(manual, 'Close')).id, { decision: 'done', brokerReference: 'REC-2' }, 'recorder');
    await save('fork-manual-compensated', manual);
    const r = await s.portfolios.create({ name: 'h7', owner: 'h', initialCapital: money('300000.00'), template: 'moderate', settings: { broker: 'manual', approvals: { reinvestment: true } } }, 'recorder');
    const rev = r.units[0]!.accounts.find((a) => a.type === 'rev')!.id;
    await s.accounts.recordActivity(rev, { type: 'premium', amount: money('20000.00') }, 'h7', 'recorder');
    const manualRe = ((await s.protocols.reinvest(rev, { quarter: '2026Q3' }, 'recorder')).result as { operationId: string }).operationId;
    await s.tasks.decide((await openTaskOf(manualRe)).id, { decision: 'approve' }, 'recorder');
    const buy = await openTaskOf(manualRe, 'Buy');
    await save('reinvest-waiting-broker', manualRe, { wait: false });
    await s.tasks.decide(buy.id, { decision: 'done', brokerReference: 'REC-3' }, 'recorder');
    await save('reinvest-manual-completed', manualRe);

    // A statement import, and an atomic one refused (nothing posted).
    const im = await s.portfolios.create({ name: 'h8', owner: 'h', initialCapital: money('300000.00'), template: 'moderate', openedAt: '2026-11-02' }, 'recorder');
    const imGen = im.units[0]!.accounts.find((a) => a.type === 'gen')!.id;
    const header = 'date,account,type,amount,reference,note';
    const statement = [header, `2026-11-05,${imGen},premium,1500.00,R-1,`, `2026-11-06,${imGen},fee,1.05,R-2,`, `2026-11-27,${imGen},statement_balance,121498.95,,`];
    const imported = await s.imports.create(im.id, statement.join('\n'), { format: 'csv', dryRun: false, atomic: false }, 'recorder');
    await save('import-completed', (imported as { operationId: string }).operationId);
    const refused = await s.imports.create(im.id, [header, `2026-11-07,${imGen},fee,999999.00,R-3,`].join('\n'), { format: 'csv', dryRun: false, atomic: true }, 'recorder');
    await save('import-atomic-refused', (refused as { operationId: string }).operationId);

    const scan = await s.protocols.startScan({ portfolioId: q.id }, 'recorder');
    await save('scan-completed', scan.operationId);
    const quarterly = await client.workflow.start('quarterlyReinvestment', {
      workflowId: 'quarterly-reinvestment-histories', taskQueue: 'histories',
      args: [{ actor: 'recorder', portfolioId: q.id, timeZone: 'Europe/Berlin' }],
    });
    await save('quarterly-completed', quarterly.workflowId);
  } finally {
    await worker.stop();
    await client.connection.close();
    await orm.close();
    await temporal.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
