/**
 * The Temporal server of the production topology, on this machine:
 *
 *   1. its schemas, set up or brought up to date by its own SQL tool
 *      (`setup-schema -v 0.0`, then `update-schema` with the schema embedded
 *      in the tool): the procedure a release upgrade runs too;
 *   2. the server, one process with all four services, from
 *      config/temporal/server.yaml (8 history shards, postgres12
 *      persistence and visibility) with its ports in the environment;
 *   3. the engine's namespace and its search attributes, waited for until
 *      the frontend accepts queries on them (the server caches namespaces
 *      and search attributes and refreshes them every few seconds).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { connectClient, ensureSearchAttributes, SEARCH_ATTRIBUTES } from '../../src/infra/temporal';
import { acceptsConnections, portInUse } from '../../src/infra/port-check';
import type { Logger } from '../../src/infra/logger';
import { TEMPORAL_DATABASES } from './postgres';
import { type Child, spawnChild, waitUntilReady } from './processes';
import type { TemporalBinaries } from './temporal-build';
import type { ChildRegistry } from './watchdog';

export const CONFIG_FILE = resolve(__dirname, '../../config/temporal/server.yaml');
export const HISTORY_SHARDS = 8;
/** How long the namespace keeps a closed workflow's history. */
const RETENTION = '7 days';
const START_TIMEOUT_MS = 180_000;

interface Database {
  port: number;
  temporal: { user: string; password: string };
}

/** Runs the SQL tool against both Temporal databases: versioning tables, then every versioned step not yet applied. */
export function setupSchemas(bins: TemporalBinaries, db: Database): void {
  const schemas = [
    [TEMPORAL_DATABASES.default, 'postgresql/v12/temporal'],
    [TEMPORAL_DATABASES.visibility, 'postgresql/v12/visibility'],
  ] as const;
  for (const [database, schema] of schemas) {
    // The connection goes in the tool's environment variables, so the password never shows in a process list.
    const env = {
      PATH: process.env.PATH, SQL_PLUGIN: 'postgres12', SQL_HOST: '127.0.0.1', SQL_PORT: String(db.port),
      SQL_USER: db.temporal.user, SQL_PASSWORD: db.temporal.password, SQL_DATABASE: database,
    };
    for (const args of [['setup-schema', '-v', '0.0'], ['update-schema', '--schema-name', schema]]) {
      const run = spawnSync(bins.sqlTool, args, { env, encoding: 'utf8', timeout: 300_000 });
      if (run.status !== 0) {
        const said = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n');
        throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed (${run.status ?? run.signal ?? run.error?.message}):\n${said}`);
      }
    }
  }
}

export interface StackTemporal {
  address: string;
  /** The server's own Prometheus metrics. */
  metricsUrl: string;
  stop(): Promise<void>;
}

/** Starts the server and waits until it serves the engine's namespace with its search attributes. */
export async function startTemporalServer(opts: {
  bins: TemporalBinaries;
  db: Database;
  namespace: string;
  frontendPort: number;
  dir: string;
  logDir: string;
  registry: ChildRegistry;
  log: Logger;
}): Promise<StackTemporal> {
  const port = async () => String(await temporalPort());
  const metrics = `127.0.0.1:${await port()}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    POSTGRES_SEEDS: '127.0.0.1', DB_PORT: String(opts.db.port),
    POSTGRES_USER: opts.db.temporal.user, POSTGRES_PWD: opts.db.temporal.password,
    DBNAME: TEMPORAL_DATABASES.default, VISIBILITY_DBNAME: TEMPORAL_DATABASES.visibility,
    NUM_HISTORY_SHARDS: String(HISTORY_SHARDS),
    BIND_ON_IP: '127.0.0.1',
    FRONTEND_GRPC_PORT: String(opts.frontendPort), FRONTEND_MEMBERSHIP_PORT: await port(),
    HISTORY_GRPC_PORT: await port(), HISTORY_MEMBERSHIP_PORT: await port(),
    MATCHING_GRPC_PORT: await port(), MATCHING_MEMBERSHIP_PORT: await port(),
    WORKER_GRPC_PORT: await port(), WORKER_MEMBERSHIP_PORT: await port(),
    PROMETHEUS_ENDPOINT: metrics,
    LOG_LEVEL: 'warn',
  };
  const child = spawnChild({
    name: 'temporal-server', command: opts.bins.server, args: ['--config-file', CONFIG_FILE, '--allow-no-auth', 'start'],
    env, cwd: opts.dir, logDir: opts.logDir, registry: opts.registry,
  });
  const address = `127.0.0.1:${opts.frontendPort}`;
  const stop = () => child.stop(60_000);
  try {
    await waitUntilReady(child, 'Temporal server', () => frontendAnswers(opts.frontendPort), START_TIMEOUT_MS);
    await ensureNamespace(child, address, opts.namespace);
    await ensureAttributes(child, address, opts.namespace, opts.log);
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, metricsUrl: `http://${metrics}/metrics`, stop };
}

/**
 * A port free on 127.0.0.1 for a Temporal service. Temporal stores its
 * services' ports in PostgreSQL as a smallint (cluster_membership), so they
 * must be below 32768, where the kernel never picks one: tried at random
 * between 10000 and 32767.
 */
export async function temporalPort(): Promise<number> {
  for (;;) {
    const candidate = 10_000 + Math.floor(Math.random() * (32_768 - 10_000));
    if (!(await portInUse(candidate, '127.0.0.1'))) return candidate;
  }
}

async function frontendAnswers(port: number): Promise<boolean> {
  if (!(await acceptsConnections(port))) return false;
  const conn = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 2000 });
  try {
    await conn.workflowService.getSystemInfo({});
    return true;
  } finally {
    await conn.close();
  }
}

/** Registers the namespace unless it exists; ready once the frontend describes it (its namespace cache has caught up). */
async function ensureNamespace(child: Child, address: string, namespace: string): Promise<void> {
  const conn = await Connection.connect({ address });
  try {
    const described = () => conn.workflowService.describeNamespace({ namespace }).then(() => true);
    if (!(await described().catch(() => false))) {
      await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(RETENTION) }).catch((err: Error) => {
        if (!/already exists/i.test(err.message)) throw err;
      });
    }
    await waitUntilReady(child, `namespace ${namespace}`, described, START_TIMEOUT_MS);
  } finally {
    await conn.close();
  }
}

/**
 * The engine's search attributes (src/infra/temporal.ts registers them),
 * ready once a visibility query naming every one of them is accepted.
 */
async function ensureAttributes(child: Child, address: string, namespace: string, log: Logger): Promise<void> {
  const client = await connectClient(address, namespace);
  try {
    await waitUntilReady(child, 'search attributes', () => ensureSearchAttributes(client, namespace, log).then(() => true), START_TIMEOUT_MS);
    const query = SEARCH_ATTRIBUTES.map((a) => `${a} = 'probe'`).join(' AND ');
    await waitUntilReady(child, 'search attributes in queries', () => client.workflowService.countWorkflowExecutions({ namespace, query }).then(() => true), START_TIMEOUT_MS);
  } finally {
    await client.connection.close();
  }
}
