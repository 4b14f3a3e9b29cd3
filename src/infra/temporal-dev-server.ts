import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from './logger';
import { acceptsConnections, portInUse } from './port-check';
import { PortInUseError } from './startup-errors';

/** The Temporal CLI: TEMPORAL_CLI, else `temporal` on PATH, else the one `npm install` put in .tools/. */
export function resolveTemporalCli(explicit?: string): string {
  if (explicit) return explicit;
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const local = resolve(__dirname, '../../.tools/venv/bin/temporal');
  if (existsSync(local)) return local;
  throw new Error('Temporal CLI not found: run `npm install` (it installs one into .tools/) or set TEMPORAL_CLI');
}

/**
 * The pid of a dev server still running on `<dataDir>/temporal.db` (left by
 * an engine that was killed), found by its command line in /proc; undefined
 * off Linux.
 */
export function runningTemporalDevServer(dataDir: string): number | undefined {
  const dbFile = join(dataDir, 'temporal.db');
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.includes('start-dev') && args[args.indexOf('--db-filename') + 1] === dbFile) return Number(pid);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return undefined;
}

/** WAL lets readers (UI, visibility) work while the history service writes; NORMAL syncs at checkpoints. */
export const DEFAULT_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

/**
 * Extra `--dynamic-config-value` settings: none. Eager workflow start (what
 * `npm start` asks for, see ProtocolService) and multi-operations are on by
 * default in the dev server (server 1.32).
 */
export const DEFAULT_DYNAMIC_CONFIG: string[] = [];

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** Default wait for the frontend to answer: generous, as a loaded machine can take tens of seconds. */
export const DEFAULT_TEMPORAL_START_TIMEOUT_MS = 120_000;

/**
 * Starts `temporal server start-dev` with SQLite file persistence under
 * dataDir (histories survive restarts) and its Web UI, and waits until the
 * frontend answers. Fails with a PortInUseError when its port or UI port is
 * taken, and leaves nothing running when it fails.
 */
export async function startTemporalDevServer(opts: {
  cli?: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  log: Logger;
  headless?: boolean;
  sqlitePragmas?: string[];
  dynamicConfig?: string[];
  /** The remote codec the Web UI calls to show encrypted payloads. */
  uiCodecEndpoint?: string;
  /** How long to wait for the frontend to answer (default DEFAULT_TEMPORAL_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}): Promise<DevServer> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const cli = resolveTemporalCli(opts.cli);
  const args = [
    'server', 'start-dev',
    '--db-filename', join(opts.dataDir, 'temporal.db'),
    '--ip', '127.0.0.1',
    '--port', String(opts.port),
    '--namespace', opts.namespace,
    '--log-level', 'warn',
    ...(opts.sqlitePragmas ?? DEFAULT_SQLITE_PRAGMAS).flatMap((p) => ['--sqlite-pragma', p]),
    ...(opts.dynamicConfig ?? DEFAULT_DYNAMIC_CONFIG).flatMap((d) => ['--dynamic-config-value', d]),
  ];
  if (opts.headless) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-ip', '127.0.0.1', '--ui-disable-news-fetch');
  if (opts.uiCodecEndpoint && !opts.headless) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  await assertPortsFree(opts);
  const child = spawnOwned(cli, args);
  const address = `127.0.0.1:${opts.port}`;
  let exited: string | undefined;
  const lastLines: string[] = [];
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal} before it was ready`));
  child.once('error', (err) => (exited = `could not be run (${cli}: ${err.message})`));
  // 'exit' can come before the last output is read; the reason for quitting is in that output.
  const outputClosed = new Promise<void>((r) => child.once('close', () => r()));
  const onOutput = (d: Buffer) => {
    const line = d.toString().trim();
    lastLines.push(...line.split('\n'));
    lastLines.splice(0, Math.max(0, lastLines.length - 20));
    opts.log.debug('temporal', { line });
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_TEMPORAL_START_TIMEOUT_MS;
  try {
    await waitForTemporal(opts.port, timeoutMs, () => exited);
  } catch (err) {
    await stopChild(child);
    await Promise.race([outputClosed, new Promise((r) => setTimeout(r, 2000))]);
    throw explainStartFailure(err, lastLines);
  }
  return { address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, stop: () => stopChild(child) };
}

/**
 * A port already served by another Temporal would answer the readiness probe
 * as if this server were up: checked before starting, not inferred after.
 */
async function assertPortsFree(opts: { port: number; uiPort: number; headless?: boolean }): Promise<void> {
  if (await portInUse(opts.port, '127.0.0.1')) throw new PortInUseError(opts.port, `Temporal port ${opts.port} is in use`);
  if (!opts.headless && (await portInUse(opts.uiPort, '127.0.0.1'))) {
    throw new PortInUseError(opts.uiPort, `Temporal UI port ${opts.uiPort} is in use`);
  }
}

/**
 * The CLI says why it quit on its output ("Error: can't set frontend port
 * 7233: listen tcp 127.0.0.1:7233: bind: address already in use"): that line
 * is the message, not "exited with 1".
 */
function explainStartFailure(err: unknown, lastLines: string[]): Error {
  const said = [...lastLines].reverse().find((l) => /^Error:|error|fatal/i.test(l));
  const busy = said && /can't set (\w+) port (\d+).*address already in use/i.exec(said);
  if (busy) return new PortInUseError(Number(busy[2]), `Temporal ${busy[1] === 'UI' ? 'UI ' : ''}port ${busy[2]} is in use`);
  const base = err instanceof Error ? err.message : String(err);
  return new Error(said ? `${base}: ${said.replace(/^Error:\s*/, '')}` : base, { cause: err });
}

async function waitForTemporal(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(`Temporal dev server ${why}`);
    try {
      if (!(await acceptsConnections(port))) throw new Error(`nothing listens on ${address} yet`);
      const conn = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await conn.workflowService.getSystemInfo({});
      } finally {
        await conn.close();
      }
      // The answer came from our server only if it is still running (it quits when it cannot bind).
      const late = exited();
      if (late) throw new Error(`Temporal dev server ${late}`);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Temporal at ${address} not ready after ${timeoutMs / 1000} s`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Servers started by this process that have not exited yet. */
const owned = new Set<ChildProcess>();
let killOnExitInstalled = false;

/**
 * Spawns a server this process owns: it is killed when this process exits
 * by any path (process.exit() on a failed start, an uncaught error), so no
 * half-started server outlives the engine or test run that started it.
 */
export function spawnOwned(command: string, args: string[]): ChildProcess {
  if (!killOnExitInstalled) {
    process.on('exit', killOwned);
    killOnExitInstalled = true;
  }
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}

/** SIGTERM, not SIGKILL: the server still shuts down cleanly (SQLite flushed) after this process is gone. */
function killOwned(): void {
  for (const child of owned) child.kill('SIGTERM');
  owned.clear();
}

export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  // No pid: it never started (spawn failed), so no exit event will come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
