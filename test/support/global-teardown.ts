import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as Record<string, unknown>).__ALLUSE_TEST_STACK__ as
    | { pg: { stop(): Promise<void> }; temporal: { stop(): Promise<void> } }
    | undefined;
  if (!stack) return;
  await stack.temporal.stop();
  await stack.pg.stop();
  if (process.env.ALLUSE_TEST_DIR) rmSync(process.env.ALLUSE_TEST_DIR, { recursive: true, force: true });
}
