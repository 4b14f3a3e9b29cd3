/**
 * The benchmark's workflow bundle: the engine's workflows plus the ceiling
 * workflow, a no-op workflow running the same number of no-op activities as a
 * saga, on the same server and worker.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

export * from '../src/workflows';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function noopSaga(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await noop();
}

const local = proxyLocalActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function noopSagaLocal(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) await local.noop();
}
