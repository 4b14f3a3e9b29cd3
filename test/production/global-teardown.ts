import { rmSync } from 'node:fs';
import type { ProductionStack } from '../../scripts/stack';
import { RUNNING } from './global-setup';

/** Stops the stack the global setup started, and removes its folder unless ALLUSE_KEEP_STACK is set (to read its logs). */
export default async function globalTeardown(): Promise<void> {
  const running = (globalThis as Record<string, unknown>)[RUNNING] as { stack: ProductionStack; dir: string } | undefined;
  if (!running) return;
  await running.stack.stop();
  if (process.env.ALLUSE_KEEP_STACK) process.stderr.write(`production stack kept in ${running.dir} (logs: ${running.dir}/logs)\n`);
  else rmSync(running.dir, { recursive: true, force: true });
}
