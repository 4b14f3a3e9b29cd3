/**
 * Projections run on worker threads, never on the API's own thread: a long
 * one takes a core for up to seconds, and the API must keep answering
 * meanwhile. The pool bounds the work: a fixed number of threads, a bounded
 * queue (beyond it a request is refused at once, ProjectionsBusy), and a time
 * budget per task (a task still running at its end is stopped, its thread
 * replaced, ProjectionBudgetExceeded). Tasks and answers are plain data
 * (src/projection/tasks.ts): amounts cross the thread boundary as decimal
 * strings, never as floating-point numbers.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { Dec } from '../domain/money';
import { freshStart } from '../domain/projection';
import { type ProjectionTask, type TaskOf, type TaskOutcome, runTask, startData } from './tasks';

export interface ProjectionPoolOptions {
  /** Worker threads (each runs one projection at a time). */
  size: number;
  /** Tasks that may wait for a thread; one more is refused with ProjectionsBusy. */
  queueMax: number;
  /** The longest a task may take, from its arrival (queueing included) to its answer. */
  timeBudgetMs: number;
}

/** One thread fewer than the machine has (the API keeps one), at least one; 16 waiting; 10 s each. */
export function defaultPoolOptions(): ProjectionPoolOptions {
  return { size: Math.max(1, availableParallelism() - 1), queueMax: 16, timeBudgetMs: 10_000 };
}

/** The Retry-After of a refusal for a full queue: projections take well under a second each, so the queue drains fast. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/** The old-generation heap one projection thread may use; a task that needs more fails like one over its time budget. */
const WORKER_HEAP_MB = 1024;

/** Refused at once: every thread is busy and the queue is full. */
export class ProjectionsBusy extends Error {
  readonly retryAfterSeconds = BUSY_RETRY_AFTER_SECONDS;

  constructor(readonly limit: number) {
    super(`the server is already running or queueing ${limit} projections, as many as it allows; retry in ${BUSY_RETRY_AFTER_SECONDS} seconds`);
    this.name = 'ProjectionsBusy';
  }
}

/** Stopped: the task did not finish within its time budget, or needed more memory than a projection may use. */
export class ProjectionBudgetExceeded extends Error {
  constructor(readonly resource: 'time' | 'memory', readonly limit: number) {
    super(
      resource === 'time'
        ? `the projection did not finish within its ${limit / 1000}-second budget (queueing included) and was stopped`
        : `the projection needed more than the ${limit} MB of memory a projection may use and was stopped`,
    );
    this.name = 'ProjectionBudgetExceeded';
  }
}

/** What runs projection tasks: the pool of worker threads, or the calling thread itself (scripts, tests). */
export interface Projector {
  run<K extends ProjectionTask['kind']>(task: TaskOf<K>): Promise<TaskOutcome<K>>;
  /** Tasks running or waiting. */
  readonly busy: number;
  /** Prepares its threads for the first task. */
  warmUp(): Promise<void>;
  /** Stops its threads; tasks still waiting fail. */
  close(): Promise<void>;
}

/** Runs each task on the calling thread: for scripts and tests, never for the API. */
export const inProcess: Projector = {
  run: async (task) => runTask(task),
  busy: 0,
  warmUp: async () => undefined,
  close: async () => undefined,
};

/**
 * The worker thread's entry. Compiled (dist/), it is plain JavaScript. From
 * the TypeScript sources (tsx, Jest), a new thread has neither loader, so it
 * preloads tsx's CommonJS hook itself and loads the .ts file.
 */
function workerEntry(): { filename: string; execArgv?: string[] } {
  if (__filename.endsWith('.js')) return { filename: join(__dirname, 'worker.js') };
  return { filename: join(__dirname, 'worker.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
}

export class ProjectionPool implements Projector {
  private piscina: Piscina | null = null;
  private pending = 0;
  private closed = false;

  constructor(readonly options: ProjectionPoolOptions) {}

  /** Tasks running or waiting. */
  get busy(): number {
    return this.pending;
  }

  async run<K extends ProjectionTask['kind']>(task: TaskOf<K>): Promise<TaskOutcome<K>> {
    if (this.closed) throw new Error('the projection pool is closed');
    const { size, queueMax, timeBudgetMs } = this.options;
    if (this.pending >= size + queueMax) throw new ProjectionsBusy(size + queueMax);
    this.pending++;
    const budget = AbortSignal.timeout(timeBudgetMs);
    try {
      return (await this.threads().run(task, { signal: budget })) as TaskOutcome<K>;
    } catch (err) {
      // Piscina stops the task's thread (or takes it off the queue) and starts a new thread in its place.
      if (budget.aborted && !this.closed) throw new ProjectionBudgetExceeded('time', timeBudgetMs);
      if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') throw new ProjectionBudgetExceeded('memory', WORKER_HEAP_MB);
      throw err;
    } finally {
      this.pending--;
    }
  }

  /**
   * Starts the threads and has each run a 30-year projection (every path: forks
   * at the day's limit, merges, a tree of thousands of cohorts), so that the
   * first projection a user asks for finds its thread started, the
   * projection code loaded and optimised by the engine, and the thread's heap
   * grown to size: cold, a 30-year projection takes about half as long again.
   */
  async warmUp(): Promise<void> {
    const start = startData(freshStart({ initialCapital: new Dec('300000.00') }));
    const options = { years: 30, marketMix: false, seed: 1 };
    try {
      await Promise.all(Array.from({ length: this.options.size }, () => this.run({ kind: 'project', start, options })));
    } catch (err) {
      // Closed meanwhile (the process is stopping): nothing to prepare for.
      if (!this.closed) throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.piscina?.destroy();
  }

  /** The threads, started on the first task (a process that never projects starts none). */
  private threads(): Piscina {
    this.piscina ??= new Piscina({
      ...workerEntry(),
      minThreads: this.options.size,
      maxThreads: this.options.size,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    return this.piscina;
  }
}
