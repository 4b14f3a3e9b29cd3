import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as Record<string, unknown>).__ALLUSE_TEST_STACK__ as
    | { pg: { stop(): Promise<void> }; temporal: { stop(): Promise<void> } }
    | undefined;
  if (!stack) return;
  // Both stopped even if one fails, so a run never leaves a server behind.
  const results = await Promise.allSettled([stack.temporal.stop(), stack.pg.stop()]);
  if (process.env.ALLUSE_TEST_DIR) rmSync(process.env.ALLUSE_TEST_DIR, { recursive: true, force: true });
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
