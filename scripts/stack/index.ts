/**
 * The production topology of docker-compose.yml on one machine, without
 * Docker: PostgreSQL (embedded, its own data folder), a real Temporal server
 * built from source (config/temporal/server.yaml: 8 history shards, postgres12
 * persistence and visibility in their own databases), the engine's
 * migrations as a one-shot process, then two worker processes and two API
 * processes, each `NODE_ENV=production` with its settings in its environment,
 * as each container would have them.
 *
 * `npm run stack:production` (./main.ts) runs it in a terminal;
 * test/production starts it to kill parts of it under load. Everything lives
 * under `dir`, which keeps its data from one start to the next: the
 * passwords, the admin API key and the payload codec keys are generated
 * there once (mode 0600), and a restart finds the same portfolios and
 * workflow histories. A watchdog (./watchdog.ts) stops every child should
 * the stack's own process die without stopping them.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { newCodecKeySpec } from '../../src/infra/codec';
import { freePort } from '../../src/infra/port-check';
import { createLogger, type Logger } from '../../src/infra/logger';
import { type StackPostgres, startStackPostgres } from './postgres';
import { type Child, spawnChild, waitUntilReady } from './processes';
import { randomToken, secret } from './secrets';
import { ensureTemporalServer } from './temporal-build';
import { type StackTemporal, setupSchemas, startTemporalServer, temporalPort } from './temporal-server';
import { ChildRegistry, startWatchdog } from './watchdog';

const ROOT = resolve(__dirname, '../..');
const NAMESPACE = 'default';
const TASK_QUEUE = 'alluse';
/** As many as docker-compose.yml runs: enough to lose one of each and carry on. */
const WORKERS = 2;
const APIS = 2;
/** Generous: on a loaded 2-core machine a worker bundles its workflows for tens of seconds. */
const PROCESS_START_TIMEOUT_MS = 180_000;

export interface StackOptions {
  /** Where the stack keeps everything (created when missing). */
  dir: string;
  /** Fixed ports; each one unset is a free port picked at start. */
  ports?: { postgres?: number; temporal?: number; apis?: number[] };
  /** More environment for every engine process (e.g. the paper broker's latency). */
  engineEnv?: Record<string, string>;
  /** One line per step of the start. */
  say?: (line: string) => void;
  /** The engine processes' LOG_LEVEL (their lines go to `<dir>/logs/`). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** A worker or API process of the stack. */
export interface EngineProcess extends Child {
  /** API: its base URL. Worker: where it serves its own GET /metrics. */
  url: string;
}

export interface ProductionStack {
  dir: string;
  logDir: string;
  postgres: { port: number; engineUrl: string };
  temporal: { address: string; metricsUrl: string; namespace: string; taskQueue: string };
  workers: EngineProcess[];
  apis: EngineProcess[];
  adminKey: string;
  adminKeyFile: string;
  /** Stops the APIs, the workers, Temporal and PostgreSQL, in that order. */
  stop(): Promise<void>;
}

export async function startProductionStack(opts: StackOptions): Promise<ProductionStack> {
  const say = opts.say ?? (() => undefined);
  const dir = resolve(opts.dir);
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  // Others may pass through (not list) it: run as root, PostgreSQL runs as the postgres user and must reach
  // its data below. Every file in it is mode 0600.
  chmodSync(dir, 0o711);
  const log: Logger = createLogger('stack', 'warn');
  const registry = new ChildRegistry(join(dir, 'children'));
  const watchdog = startWatchdog(join(dir, 'children'));
  const parts: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const part of parts.reverse()) await part.stop().catch((err: Error) => say(`stop failed: ${err.message}`));
    parts.length = 0;
    watchdog.stop();
  };

  try {
    const bins = await ensureTemporalServer({ say: (line) => say(`temporal build: ${line}`) });
    say('starting PostgreSQL');
    const db: StackPostgres = await startStackPostgres({ dir, port: opts.ports?.postgres ?? (await freePort()), log, registry });
    parts.push(db);
    say(`setting up the Temporal schemas (temporal-sql-tool ${bins.version})`);
    setupSchemas(bins, db);
    say('starting the Temporal server');
    const temporal: StackTemporal = await startTemporalServer({
      bins, db, namespace: NAMESPACE, frontendPort: opts.ports?.temporal ?? (await temporalPort()), dir, logDir, registry, log,
    });
    parts.push(temporal);

    const adminKeyFile = join(dir, 'admin-api-key');
    const adminKey = secret(adminKeyFile, () => `alu_${randomToken(32)}`);
    const engineEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: opts.logLevel ?? 'info',
      DATABASE_URL: db.engineUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      ALLUSE_ADMIN_API_KEY: adminKey,
      ALLUSE_DATA_DIR: join(dir, 'engine'),
      TEMPORAL_CODEC_KEYS: secret(join(dir, 'codec-keys'), () => newCodecKeySpec()),
      ...opts.engineEnv,
    };
    const engine = (name: string, entry: string, env: NodeJS.ProcessEnv, onLine?: (line: string) => void) =>
      spawnChild({ name, command: process.execPath, args: ['--import', 'tsx', entry], env: { ...engineEnv, ...env }, cwd: ROOT, logDir, registry, onLine });

    say('applying the engine migrations');
    const migrate = engine('migrate', 'src/migrate.ts', {});
    const migrated = await migrate.exited;
    if (migrated !== 0) throw new Error(`migrations failed (${migrated}):\n${migrate.tail()}`);

    const workers: EngineProcess[] = [];
    say(`starting ${WORKERS} workers`);
    await Promise.all(Array.from({ length: WORKERS }, async (_, i) => {
      const metricsPort = await freePort();
      let started = false;
      const child = engine(`worker-${i + 1}`, 'src/worker.ts', {
        WORKER_METRICS_PORT: String(metricsPort),
        TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
      }, (line) => (started ||= line.includes('"msg":"worker started"')));
      const worker: EngineProcess = Object.assign(child, { url: `http://127.0.0.1:${metricsPort}` });
      workers.push(worker);
      parts.push(worker);
      await waitUntilReady(child, 'worker', () => started, PROCESS_START_TIMEOUT_MS);
    }));
    workers.sort((a, b) => a.name.localeCompare(b.name));

    // One after the other: the first start stores the admin key's hash, which the second then finds.
    const apis: EngineProcess[] = [];
    for (let i = 0; i < APIS; i++) {
      const port = opts.ports?.apis?.[i] ?? (await freePort());
      say(`starting API ${i + 1} on port ${port}`);
      const url = `http://127.0.0.1:${port}`;
      const child = engine(`api-${i + 1}`, 'src/server.ts', { HOST: '127.0.0.1', PORT: String(port) });
      const api: EngineProcess = Object.assign(child, { url });
      apis.push(api);
      parts.push(api);
      await waitUntilReady(child, 'API', async () => (await fetch(`${url}/readyz`)).status === 200, PROCESS_START_TIMEOUT_MS);
    }

    return {
      dir, logDir,
      postgres: { port: db.port, engineUrl: db.engineUrl },
      temporal: { address: temporal.address, metricsUrl: temporal.metricsUrl, namespace: NAMESPACE, taskQueue: TASK_QUEUE },
      workers, apis, adminKey, adminKeyFile,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
