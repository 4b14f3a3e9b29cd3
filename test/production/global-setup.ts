import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProductionStack } from '../../scripts/stack';
import { STACK_ENV, type StackInfo } from './stack-info';

/**
 * Starts the production topology once for the run (scripts/stack; the first
 * run builds the Temporal server) and hands its addresses and process ids to
 * the tests through the environment. It runs here, outside the tests' module
 * sandbox, because embedded PostgreSQL is an ES module Jest cannot load there;
 * global-teardown.ts stops it.
 */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-production-'));
  let stack;
  try {
    stack = await startProductionStack({
      dir,
      // One admin key drives the whole load over both APIs, and the limit is shared: keep it on (its statement runs on every request) but out of the way.
      // A broker that takes its time keeps operations in flight long enough to be killed in the middle of.
      engineEnv: { PAPER_BROKER_LATENCY_MS: '150', RATE_LIMIT_PER_MINUTE: '600000' },
      say: (line) => process.stderr.write(`[stack] ${line}\n`),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const part = (p: { name: string; pid: number; url: string }) => ({ name: p.name, pid: p.pid, url: p.url });
  const info: StackInfo = {
    dir, adminKey: stack.adminKey, engineUrl: stack.postgres.engineUrl,
    workers: stack.workers.map(part), apis: stack.apis.map(part),
  };
  process.env[STACK_ENV] = JSON.stringify(info);
  (globalThis as Record<string, unknown>)[RUNNING] = { stack, dir };
}

/** Where the teardown finds the running stack (the same process and global scope as this setup). */
export const RUNNING = '__ALLUSE_PRODUCTION_STACK__';
