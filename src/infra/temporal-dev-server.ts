import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from './logger';

/** The Temporal CLI: TEMPORAL_CLI, else `temporal` on PATH, else the one `npm install` put in .tools/. */
export function resolveTemporalCli(explicit?: string): string {
  if (explicit) return explicit;
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const local = resolve(__dirname, '../../.tools/venv/bin/temporal');
  if (existsSync(local)) return local;
  throw new Error('Temporal CLI not found: run `npm install` (it installs one into .tools/) or set TEMPORAL_CLI');
}

/** WAL lets readers (UI, visibility) work while the history service writes; NORMAL syncs at checkpoints. */
export const DEFAULT_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'];

export const DEFAULT_DYNAMIC_CONFIG: string[] = [];

export interface DevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with SQLite file persistence under
 * dataDir (histories survive restarts) and its Web UI, and waits until the
 * frontend answers.
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
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const address = `127.0.0.1:${opts.port}`;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  child.stdout?.on('data', (d: Buffer) => opts.log.debug('temporal', { line: d.toString().trim() }));
  child.stderr?.on('data', (d: Buffer) => opts.log.debug('temporal', { line: d.toString().trim() }));
  await waitForTemporal(address, 60_000, () => exited);
  return { address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, stop: () => stopChild(child) };
}

async function waitForTemporal(address: string, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(`Temporal dev server ${why} before it was ready`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Temporal at ${address} not ready after ${timeoutMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
