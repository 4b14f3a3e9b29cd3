/**
 * `npm run bench -- --servers`: the ceiling the sagas are held against (a
 * no-op workflow running 7 no-op activities, as many steps as a fork) on the
 * two Temporal servers the engine runs on, side by side, on this machine:
 *
 *   - the dev server of `npm start` and the tests (`temporal server start-dev`, SQLite file);
 *   - the production server of `npm run stack:production` (temporal-server 1.32 built from
 *     source, PostgreSQL persistence and visibility, 8 history shards: scripts/stack).
 *
 * Both run at once, each with the same in-process worker and load (see
 * benchServers). Figures, never assertions: on a small machine the real
 * server, which writes every event to PostgreSQL across shards, is expected
 * to be slower; it is measured to know by how much, not to tune for this
 * box. Writes bench/results/servers.json and servers.md.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createLogger } from '../src/infra/logger';
import { freePort } from '../src/infra/port-check';
import { connectClient } from '../src/infra/temporal';
import { resolveTemporalCli, startTemporalDevServer } from '../src/infra/temporal-dev-server';
import { installTemporalRuntime, workflowInterceptorModules } from '../src/worker';
import { startStackPostgres } from '../scripts/stack/postgres';
import { TEMPORAL_SERVER_VERSION, ensureTemporalServer } from '../scripts/stack/temporal-build';
import { HISTORY_SHARDS, setupSchemas, startTemporalServer, temporalPort } from '../scripts/stack/temporal-server';
import { ChildRegistry, startWatchdog } from '../scripts/stack/watchdog';
import { type Measured, measure } from './stats';

const STEPS = 7;
const TASK_QUEUE = 'bench-servers';
/** [concurrent workflows, workflows measured]. */
const LEVELS = [[1, 20], [10, 150], [50, 300]] as const;
const log = (msg: string) => process.stderr.write(`[bench --servers] ${msg}\n`);

type Bundle = Awaited<ReturnType<typeof bundleWorkflowCode>>;
interface Running {
  address: string;
  stop(): Promise<void>;
}

/** A worker in this process on the server at `address`, warmed up; `once()` runs one no-op workflow to its end. */
async function loadOn(address: string, workflowBundle: Bundle): Promise<{ once(): Promise<void>; stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection, namespace: 'default', taskQueue: TASK_QUEUE, workflowBundle,
    activities: { noop: async () => undefined },
    maxConcurrentActivityTaskExecutions: 200, maxConcurrentWorkflowTaskExecutions: 200,
  });
  const running = worker.run();
  const client = await connectClient(address, 'default');
  const once = () => client.workflow.execute('noopSaga', { taskQueue: TASK_QUEUE, workflowId: `noop-${randomUUID()}`, args: [STEPS] });
  await measure(20, 10, once); // warm-up: caches, connections, the worker's first workflow tasks
  return {
    once,
    stop: async () => {
      worker.shutdown();
      await running;
      await client.connection.close();
      await connection.close();
    },
  };
}

async function startDevServer(dir: string): Promise<Running> {
  log('starting the dev server (temporal server start-dev, SQLite)');
  return startTemporalDevServer({
    dataDir: join(dir, 'dev'), port: await freePort(), uiPort: await freePort(), namespace: 'default', headless: true, log: createLogger('bench', 'warn'),
  });
}

async function startProductionServer(dir: string): Promise<Running> {
  const bins = await ensureTemporalServer({ say: (line) => log(`temporal build: ${line}`) });
  log(`starting the production server (temporal-server ${bins.version}, PostgreSQL, ${HISTORY_SHARDS} history shards)`);
  const stackDir = join(dir, 'production');
  mkdirSync(join(stackDir, 'logs'), { recursive: true });
  chmodSync(stackDir, 0o711);
  const registry = new ChildRegistry(join(stackDir, 'children'));
  const watchdog = startWatchdog(join(stackDir, 'children'));
  const quiet = createLogger('bench', 'warn');
  const db = await startStackPostgres({ dir: stackDir, port: await freePort(), log: quiet, registry });
  const stopDb = async () => {
    await db.stop();
    watchdog.stop();
  };
  try {
    setupSchemas(bins, db);
    const server = await startTemporalServer({
      bins, db, namespace: 'default', frontendPort: await temporalPort(), dir: stackDir, logDir: join(stackDir, 'logs'), registry, log: quiet,
    });
    return { address: server.address, stop: async () => {
      await server.stop();
      await stopDb();
    } };
  } catch (err) {
    await stopDb();
    throw err;
  }
}

/**
 * Both servers run at once, each with its own worker in this process, and
 * each level is measured on one and then the other, back to back: a change
 * in what else the machine runs falls on both about equally. An idle server
 * costs little.
 */
export async function benchServers(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-bench-servers-'));
  chmodSync(dir, 0o711);
  const stops: (() => Promise<void>)[] = [];
  try {
    installTemporalRuntime('warn');
    const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), workflowInterceptorModules });
    const devServer = await startDevServer(dir);
    stops.push(() => devServer.stop());
    const productionServer = await startProductionServer(dir);
    stops.push(() => productionServer.stop());
    const onDev = await loadOn(devServer.address, bundle);
    stops.push(() => onDev.stop());
    const onProduction = await loadOn(productionServer.address, bundle);
    stops.push(() => onProduction.stop());
    const dev: Measured[] = [];
    const production: Measured[] = [];
    for (const [concurrency, total] of LEVELS) {
      dev.push(await measure(total, concurrency, onDev.once));
      production.push(await measure(total, concurrency, onProduction.once));
      log(`${concurrency} concurrent: dev server ${dev.at(-1)!.perSecond.toFixed(1)}/s, production server ${production.at(-1)!.perSecond.toFixed(1)}/s`);
    }
    write(dev, production);
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function write(dev: Measured[], production: Measured[]): void {
  const rate = (m: Measured) => `${m.perSecond.toFixed(1)}/s`;
  const ms = (n?: number) => (n === undefined ? '' : `${n.toFixed(0)} ms`);
  const rows = LEVELS.map(([concurrency], i) => ({
    case: `no-op workflow with ${STEPS} no-op activities, ${concurrency} concurrent`,
    dev: { perSecond: dev[i]!.perSecond, p50: dev[i]!.p50, p95: dev[i]!.p95 },
    production: { perSecond: production[i]!.perSecond, p50: production[i]!.p50, p95: production[i]!.p95 },
    ratio: production[i]!.perSecond / dev[i]!.perSecond,
  }));
  const machine = {
    cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version,
    devServer: execFileSync(resolveTemporalCli(), ['--version'], { encoding: 'utf8' }).trim(),
    productionServer: `temporal-server ${TEMPORAL_SERVER_VERSION} on embedded PostgreSQL 18, ${HISTORY_SHARDS} history shards`,
    at: new Date().toISOString(),
  };
  const table = [
    '| case | dev server | p50 / p95 | production server | p50 / p95 | production / dev |',
    '| --- | --- | --- | --- | --- | --- |',
    ...LEVELS.map((_, i) => {
      const [d, p] = [dev[i]!, production[i]!];
      return `| ${rows[i]!.case} | ${rate(d)} | ${ms(d.p50)} / ${ms(d.p95)} | ${rate(p)} | ${ms(p.p50)} / ${ms(p.p95)} | ${(rows[i]!.ratio * 100).toFixed(0)}% |`;
    }),
  ];
  const md = `# Temporal servers side by side\n\nMachine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}; `
    + `dev server: ${machine.devServer}; production server: ${machine.productionServer}; ${machine.at}\n\n${table.join('\n')}\n`;
  writeFileSync(join(__dirname, 'results/servers.json'), JSON.stringify({ machine, rows }, null, 2));
  writeFileSync(join(__dirname, 'results/servers.md'), md);
  process.stdout.write(md);
}
