/**
 * The real engine for browser tests, meant for reuse by every Playwright spec
 * (the /docs reference today, the web app at GET / next): `tsx src/main.ts`
 * exactly as `npm start` runs it — embedded PostgreSQL, the Temporal dev
 * server, the worker (forks, merges and reinvestments really run) and the API
 * — on a fresh temporary data directory and free ports, so it never touches
 * `.data/` or a running `npm start`. It has an admin key (the one main.ts
 * writes on first start) and a viewer and an operator key made through the API.
 *
 * Started once per `playwright test` run by global-setup.ts; specs get it
 * through the `engine` fixture in fixtures.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../support/ports';

export type Role = 'viewer' | 'operator' | 'admin';

/** What a spec needs to reach the engine (serializable: it travels to the test workers in an environment variable). */
export interface EngineInfo {
  /** http://127.0.0.1:<port>, the API (and every page it serves). */
  url: string;
  keys: Record<Role, string>;
  dataDir: string;
}

export const ENGINE_ENV = 'ALLUSE_BROWSER_ENGINE';
const ROOT = resolve(__dirname, '../../..');
/** Generous: on a busy 2-core machine PostgreSQL, Temporal and the workflow bundle can take a while. */
const START_TIMEOUT_MS = 180_000;

/**
 * The engine's parent, run with `node -e` as the leader of the engine's
 * process group: it starts `tsx src/main.ts` (its output goes straight to
 * our pipes), passes SIGTERM/SIGINT/SIGHUP on to it as SIGTERM, and exits
 * with its code, so to stop() it is the engine. It also watches the runner,
 * twice a second: a detached group survives a runner that is SIGKILLed (no
 * 'exit' handler runs then), so when the runner is gone (this process is
 * re-parented, or the runner's pid is dead) it stops the engine itself:
 * SIGTERM (main.ts stops the API, worker, Temporal and PostgreSQL in order),
 * SIGKILL to the whole group after 20 s or once the engine has exited (for
 * anything left behind), and the temporary directory removed.
 *
 * argv: the runner's pid, the temporary directory, the command to run.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const { rmSync } = require('node:fs');
const [runnerArg, dir, command, ...args] = process.argv.slice(1);
const runner = Number(runnerArg);
const engine = spawn(command, args, { stdio: 'inherit' });
let orphaned = false;
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => engine.kill('SIGTERM'));
const runnerAlive = () => {
  if (process.ppid !== runner) return false;
  try { process.kill(runner, 0); return true; } catch (err) { return err.code === 'EPERM'; }
};
const finish = () => {
  // The directory first (PostgreSQL is stopped, or is about to be killed with the rest), then every process of the group, this one last.
  try { rmSync(dir, { recursive: true, force: true }); } catch {}
  process.kill(-process.pid, 'SIGKILL');
};
engine.on('exit', (code, signal) => {
  if (orphaned) return finish();
  process.exit(code ?? (signal ? 1 : 0));
});
const watch = setInterval(() => {
  if (runnerAlive()) return;
  orphaned = true;
  clearInterval(watch);
  engine.kill('SIGTERM');
  setTimeout(finish, 20000);
}, 500);
`;

export interface RunningEngine {
  info: EngineInfo;
  stop(): Promise<void>;
}

export async function startEngine(): Promise<RunningEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'alluse-browser-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.ALLUSE_TEST_LOG ? 'debug' : 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    ALLUSE_DATA_DIR: dataDir,
    ALLUSE_PG_PORT: String(await freePort()),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
  };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'ALLUSE_ADMIN_API_KEY', 'TEMPORAL_CODEC_KEYS']) delete env[name];
  // Its own process group: stop() can take the whole tree (PostgreSQL, Temporal) if a graceful stop hangs.
  // The watchdog in front of it stops it should this process die without a word (SIGKILL): see WATCHDOG.
  const child = spawn(process.execPath, ['-e', WATCHDOG, String(process.pid), dir, join(ROOT, 'node_modules/.bin/tsx'), 'src/main.ts'], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  // Should the runner exit or be killed (SIGTERM, SIGHUP) without running its teardown,
  // the engine does not outlive it: its process group is killed and its directory removed.
  const abandon = () => {
    killGroup();
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    abandon();
    forget();
    process.kill(process.pid, signal); // what the signal would have done (the runner's own handler, or exit)
  };
  const forget = () => {
    process.removeListener('exit', abandon);
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.removeListener(signal, onSignal);
  };
  process.once('exit', abandon);
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.once(signal, onSignal);
  const stop = async () => {
    forget();
    await stopChild(child, killGroup);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForBanner(child);
    const url = `http://127.0.0.1:${port}`;
    const admin = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim();
    const keys: Record<Role, string> = { admin, operator: await createKey(url, admin, 'operator'), viewer: await createKey(url, admin, 'viewer') };
    return { info: { url, keys, dataDir }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves once main.ts prints "ALL-USE Engine is running"; rejects with its output if it exits or hangs. */
function waitForBanner(child: ChildProcess): Promise<void> {
  let output = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the engine did not start within ${START_TIMEOUT_MS / 1000} s:\n${output.slice(-4000)}`)), START_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('ALL-USE Engine is running')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        // Keep draining its pipes; show its logs only when asked to.
        child.stdout!.on('data', (x: Buffer) => process.env.ALLUSE_TEST_LOG && process.stderr.write(x));
        child.stderr!.on('data', (x: Buffer) => process.env.ALLUSE_TEST_LOG && process.stderr.write(x));
        ok();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the engine exited (${code ?? signal}) while starting:\n${output.slice(-4000)}`));
    });
  });
}

async function createKey(url: string, adminKey: string, role: Role): Promise<string> {
  const res = await fetch(`${url}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `browser tests ${role}`, role }),
  });
  if (res.status !== 201) throw new Error(`creating a ${role} key: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

/** SIGTERM (main.ts stops the API, worker, Temporal and PostgreSQL in order), then SIGKILL to the group after 30 s. */
function stopChild(child: ChildProcess, killGroup: () => void): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      killGroup(); // anything it left behind in its group
      return done();
    }
    const timer = setTimeout(killGroup, 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      killGroup();
      done();
    });
    child.kill('SIGTERM');
  });
}

/** The engine the global setup started, as seen from a test worker. */
export function engineFromEnv(): EngineInfo {
  const raw = process.env[ENGINE_ENV];
  if (!raw) throw new Error(`${ENGINE_ENV} is not set: run the browser tests with npm run test:browser (the global setup starts the engine)`);
  return JSON.parse(raw) as EngineInfo;
}
