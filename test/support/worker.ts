import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { DefaultLogger, Runtime, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { BrokerGateway } from '../../src/broker/gateway';
import { loadConfig } from '../../src/config';
import { silentLogger } from '../../src/infra/logger';
import { startWorker, type WorkerHandle, workflowInterceptorModules } from '../../src/worker';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per test file (Jest module registry). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  quietRuntime();
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'), workflowInterceptorModules, logger: new DefaultLogger('WARN'),
  });
  return bundle;
}

const RUNTIME_FLAG = '__ALLUSE_RUNTIME_INSTALLED__';
function quietRuntime(): void {
  const g = globalThis as Record<string, unknown>;
  // Runtime.install may run once per process; Jest reuses processes across files.
  if (g[RUNTIME_FLAG] || process.env[RUNTIME_FLAG]) return;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    /* installed by an earlier file in this process */
  }
  g[RUNTIME_FLAG] = true;
  process.env[RUNTIME_FLAG] = '1';
}

export const testTaskQueue = () => `test-${randomBytes(5).toString('hex')}`;

/** A real worker running the real workflows and activities on the run's Temporal server. */
export async function startTestWorker(
  orm: MikroORM,
  taskQueue: string,
  opts: { broker?: BrokerGateway; wrapActivities?: (real: Activities) => Activities; codec?: PayloadCodec } = {},
): Promise<WorkerHandle> {
  quietRuntime();
  const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS, DATABASE_URL: undefined, NODE_ENV: 'test' });
  return startWorker({
    config, orm, address: process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, log: silentLogger, ...opts,
    workflowBundle: await workflowBundle(), taskQueue,
  });
}
