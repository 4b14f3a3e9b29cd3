/**
 * Polling an operation or an import until it ends, politely: every 250 ms
 * while something changes, backing off to 3 s while nothing does; each
 * request's deadline capped at what is left of --timeout (a hung engine
 * cannot hold a `--timeout 5` for 30 s); and once the engine has answered,
 * a transient failure (no answer, refused, a 429 or 502-504: the engine
 * restarting) is retried for up to 30 s before giving up with exit 7.
 */
import { type AlluseClient, ok } from '../client';
import { type Context, DEFAULT_TIMEOUT_MS, type Hints, isTransient } from './context';
import { CliError, EXIT } from './exit-codes';
import { sleep } from './commands/shared';

export const MIN_POLL_MS = 250;
export const MAX_POLL_MS = 3_000;
/** How long transient failures in a row are retried. */
export const RETRY_FOR_MS = 30_000;

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

export interface PollerOptions {
  /** --timeout: stop after this long. */
  timeoutSeconds?: number;
  /** The engine has answered already (the request that started it): retry transient failures from the first poll. */
  answered?: boolean;
  /** What is being followed, for the message when the engine is lost ("fork-...-1", "import ..."). */
  what: string;
  /** How to pick it up again, for the same message. */
  resume: string;
}

export class Poller {
  private readonly started = Date.now();
  private readonly deadline?: number;
  private interval = MIN_POLL_MS;
  private failingSince?: number;
  private answered: boolean;

  constructor(
    private readonly ctx: Context,
    private readonly opts: PollerOptions,
  ) {
    this.deadline = opts.timeoutSeconds === undefined ? undefined : this.started + opts.timeoutSeconds * 1000;
    this.answered = Boolean(opts.answered);
  }

  get elapsedSeconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** --timeout has run out. */
  get timedOut(): boolean {
    return this.deadline !== undefined && Date.now() >= this.deadline;
  }

  /**
   * One poll: the data, or undefined after a transient failure that is to
   * be retried (`onRetry` hears why). Throws any other failure, and a
   * transient one that has lasted RETRY_FOR_MS.
   */
  async fetch<R extends Answer>(request: (api: AlluseClient) => Promise<R>, hints: Hints, onRetry: (why: string) => void): Promise<Exclude<R['data'], undefined> | undefined> {
    try {
      const data = await ok(request(this.client()));
      this.answered = true;
      this.failingSince = undefined;
      return data;
    } catch (err) {
      const explained = this.ctx.explain(err, hints);
      if (!this.answered || !isTransient(err)) throw explained;
      const message = explained instanceof Error ? explained.message : String(explained);
      // Cut short by --timeout: the caller reports the timeout, not a failure.
      if (this.timedOut) return undefined;
      this.failingSince ??= Date.now();
      if (Date.now() - this.failingSince >= RETRY_FOR_MS) {
        const hintsOf = explained instanceof CliError ? explained.hints : [];
        throw new CliError(`lost the engine while following ${this.opts.what} (for ${RETRY_FOR_MS / 1000} s: ${message})`, EXIT.unreachable, [
          ...hintsOf, `it goes on in the engine; follow it again with \`${this.opts.resume}\``,
        ]);
      }
      onRetry(message);
      return undefined;
    }
  }

  /** Waits before the next poll: 250 ms after a change, half as often again each time nothing changed, up to 3 s; never past --timeout. */
  async pause(changed: boolean): Promise<void> {
    this.interval = changed ? MIN_POLL_MS : Math.min(Math.round(this.interval * 1.5), MAX_POLL_MS);
    const left = this.deadline === undefined ? Infinity : this.deadline - Date.now();
    await sleep(Math.max(0, Math.min(this.interval, left)));
  }

  /** The client for the next request: the usual deadline, or what is left of --timeout when that is less. */
  private client(): AlluseClient {
    const left = this.deadline === undefined ? Infinity : this.deadline - Date.now();
    return left < DEFAULT_TIMEOUT_MS ? this.ctx.clientWithTimeout(Math.max(left, 100)) : this.ctx.api;
  }
}
