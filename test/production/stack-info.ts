/** What the tests get of the stack the global setup started (through the environment: it is serializable). */
export interface StackInfo {
  dir: string;
  adminKey: string;
  /** The engine's database, for what only the ledger can tell. */
  engineUrl: string;
  workers: { name: string; pid: number; url: string }[];
  apis: { name: string; pid: number; url: string }[];
}

export const STACK_ENV = 'ALLUSE_PRODUCTION_STACK';

export function stackInfo(): StackInfo {
  const raw = process.env[STACK_ENV];
  if (!raw) throw new Error(`${STACK_ENV} is not set: run these tests with npm run test:production (its global setup starts the stack)`);
  return JSON.parse(raw) as StackInfo;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** SIGKILL to a part's whole process group, as a crash or `kill -9` would; resolves once it is gone. */
export async function killHard(part: { pid: number }, timeoutMs = 30_000): Promise<void> {
  process.kill(-part.pid, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while (alive(part.pid)) {
    if (Date.now() > deadline) throw new Error(`process ${part.pid} still alive ${timeoutMs / 1000} s after SIGKILL`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
