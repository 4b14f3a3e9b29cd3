/**
 * The processes of a chaos run and the faults done to them: embedded
 * PostgreSQL, the Temporal dev server (SQLite file kept across restarts),
 * worker processes and API processes, each restartable. A process that dies
 * on its own (not by an injected fault) is started again, as a supervisor
 * would, and counted.
 */
import type { ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EmbeddedPg, runningPostgres, startEmbeddedPostgres } from '../src/infra/embedded-postgres';
import { silentLogger } from '../src/infra/logger';
import { pidAlive } from '../src/infra/engine-lock';
import { type DevServer, startTemporalDevServer } from '../src/infra/temporal-dev-server';
import { type ApiProcess, killApiHard, spawnApi } from '../test/support/api-process';
import { freePort } from '../test/support/ports';
import { killHard, spawnWorker } from '../test/support/worker-process';
import { sleep } from './http';
import type { Target } from './schedule';

export const log = (m: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${m}\n`);

/** Runs one task at a time: two faults on one component wait for each other. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Tries `start` until it succeeds (a dependency may be down right then), for up to `ms`. */
async function startWithin<T>(what: string, ms: number, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not start within ${ms / 1000} s: ${(err as Error).message.slice(0, 2000)}`, { cause: err });
      log(`${what} did not start (try ${attempt}), trying again`);
      await sleep(1000);
    }
  }
}

const RESTART_WITHIN_MS = 180_000;

interface Supervised<P> {
  current?: P;
  /** False while a fault holds it down on purpose. */
  wanted: boolean;
  lock: Lock;
}

export interface StackOptions {
  dir: string;
  workers: number;
  apis: number;
  database: string;
  taskQueue: string;
  adminKey: string;
  /** Worker environment beyond the connection settings (scan interval, broker latency). */
  workerEnv: Record<string, string>;
}

export class ChaosStack {
  pg!: EmbeddedPg;
  temporal!: DevServer;
  readonly weatherFile: string;
  readonly clockFile: string;
  /** Processes that died without an injected fault and were started again. */
  readonly unplannedRestarts: string[] = [];
  private pgPort = 0;
  private temporalPort = 0;
  private apiPorts: number[] = [];
  private readonly workers: Supervised<ChildProcess>[];
  private readonly apis: Supervised<ApiProcess>[];
  private readonly pgLock = new Lock();
  private readonly temporalLock = new Lock();
  private stopping = false;

  constructor(private readonly opts: StackOptions) {
    this.weatherFile = join(opts.dir, 'broker-weather.json');
    this.clockFile = join(opts.dir, 'clock-offset-ms');
    this.workers = Array.from({ length: opts.workers }, () => ({ wanted: true, lock: new Lock() }));
    this.apis = Array.from({ length: opts.apis }, () => ({ wanted: true, lock: new Lock() }));
  }

  get databaseUrl(): string {
    return this.pg.urlFor(this.opts.database);
  }

  get apiUrls(): string[] {
    return this.apiPorts.map((p) => `http://127.0.0.1:${p}`);
  }

  async startServers(): Promise<void> {
    this.pgPort = await freePort();
    this.temporalPort = await freePort();
    this.pg = await this.startPg();
    await this.pg.createDatabase(this.opts.database);
    this.temporal = await this.startTemporal();
  }

  /** Workers one after another (the first creates the schedules), then the APIs. */
  async startProcesses(): Promise<void> {
    this.apiPorts = await Promise.all(this.apis.map(() => freePort()));
    for (let i = 0; i < this.workers.length; i++) await this.startWorker(i);
    for (let i = 0; i < this.apis.length; i++) await this.startApi(i);
  }

  /** kill -9 the target worker(s), wait `downSeconds`, start again. */
  killWorkers(target: Target, downSeconds: number): Promise<void> {
    return this.killAndRestart(this.workers, target, downSeconds, (w) => killHard(w), (i) => this.startWorker(i));
  }

  killApis(target: Target, downSeconds: number): Promise<void> {
    return this.killAndRestart(this.apis, target, downSeconds, (a) => killApiHard(a), (i) => this.startApi(i));
  }

  /** `fast`: pg_ctl's clean shutdown. `immediate`: SIGQUIT to the postmaster, no checkpoint, WAL replay at the next start. */
  restartPostgres(mode: 'fast' | 'immediate', downSeconds: number): Promise<void> {
    return this.pgLock.run(async () => {
      if (mode === 'fast') await this.pg.stop();
      else await this.quitPostgresImmediately();
      await sleep(downSeconds * 1000);
      this.pg = await startWithin('PostgreSQL', RESTART_WITHIN_MS, () => this.startPg());
    });
  }

  restartTemporal(downSeconds: number): Promise<void> {
    return this.temporalLock.run(async () => {
      await this.temporal.stop();
      await sleep(downSeconds * 1000);
      this.temporal = await startWithin('Temporal', RESTART_WITHIN_MS, () => this.startTemporal());
    });
  }

  /** The paper broker's fault rates for every worker (re-read within a second). */
  setBrokerWeather(failureRate: number, timeoutRate: number): void {
    writeAtomically(this.weatherFile, JSON.stringify({ failureRate, timeoutRate }));
  }

  /** How far the workers' engine clock runs ahead of the system clock. */
  setClockOffset(ms: number): void {
    writeAtomically(this.clockFile, String(Math.round(ms)));
  }

  /** Waits for every restart in progress. */
  async settled(): Promise<void> {
    await Promise.all([this.pgLock.run(async () => undefined), this.temporalLock.run(async () => undefined),
      ...[...this.workers, ...this.apis].map((s) => s.lock.run(async () => undefined))]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.apis.map((a) => a.current && killApiHard(a.current)));
    await Promise.all(this.workers.map((w) => w.current && killHard(w.current)));
    await this.temporal?.stop().catch(() => undefined);
    await this.pg?.stop().catch(() => undefined);
  }

  private async killAndRestart<P>(
    set: Supervised<P>[], target: Target, downSeconds: number, kill: (p: P) => Promise<void>, start: (i: number) => Promise<void>,
  ): Promise<void> {
    const indexes = target === 'all' ? set.map((_, i) => i) : [target % set.length];
    await Promise.all(indexes.map((i) => set[i]!.lock.run(async () => {
      const s = set[i]!;
      s.wanted = false;
      if (s.current) await kill(s.current);
      s.current = undefined;
      await sleep(downSeconds * 1000);
      s.wanted = true;
      await start(i);
    })));
  }

  private startPg(): Promise<EmbeddedPg> {
    return startEmbeddedPostgres({ dataDir: join(this.opts.dir, 'pg-data'), port: this.pgPort, log: silentLogger });
  }

  private startTemporal(): Promise<DevServer> {
    return startTemporalDevServer({ dataDir: join(this.opts.dir, 'temporal'), port: this.temporalPort, uiPort: 0, namespace: 'default', headless: true, log: silentLogger });
  }

  private async quitPostgresImmediately(): Promise<void> {
    const pid = runningPostgres(join(this.opts.dir, 'pg-data'));
    if (pid === undefined) return;
    process.kill(pid, 'SIGQUIT');
    const deadline = Date.now() + 30_000;
    while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  }

  private env(): Record<string, string> {
    return { DATABASE_URL: this.databaseUrl, TEMPORAL_ADDRESS: this.temporal.address, TEMPORAL_TASK_QUEUE: this.opts.taskQueue };
  }

  private async startWorker(i: number): Promise<void> {
    const s = this.workers[i]!;
    const env = { ...this.env(), ...this.opts.workerEnv, PAPER_BROKER_WEATHER_FILE: this.weatherFile, ALLUSE_CLOCK_OFFSET_FILE: this.clockFile };
    const child = await startWithin(`worker ${i}`, RESTART_WITHIN_MS, () => spawnWorker(env));
    s.current = child;
    child.once('exit', (code, signal) => this.onUnplannedExit(`worker ${i}`, s, child, `${code ?? signal}`, () => this.startWorker(i)));
  }

  private async startApi(i: number): Promise<void> {
    const s = this.apis[i]!;
    const env = {
      ...this.env(), PORT: String(this.apiPorts[i]), ALLUSE_ADMIN_API_KEY: this.opts.adminKey, ALLUSE_DATA_DIR: join(this.opts.dir, `api-${i}`),
      RATE_LIMIT_PER_MINUTE: '0', DB_POOL_MAX: '20',
    };
    const api = await startWithin(`API ${i}`, RESTART_WITHIN_MS, () => spawnApi(env));
    s.current = api;
    api.child.once('exit', (code, signal) => this.onUnplannedExit(`API ${i}`, s, api, `${code ?? signal}`, () => this.startApi(i)));
  }

  private onUnplannedExit<P>(name: string, s: Supervised<P>, which: P, how: string, start: () => Promise<void>): void {
    if (this.stopping || !s.wanted || s.current !== which) return;
    this.unplannedRestarts.push(`${name} exited with ${how}`);
    log(`${name} exited by itself (${how}); starting it again`);
    s.current = undefined;
    void s.lock.run(() => start()).catch((err: unknown) => log(`${name} could not be started again: ${(err as Error).message}`));
  }
}

/** Write, then rename: a reader sees the old content or the new, never half of it. */
function writeAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}
