/**
 * The chaos load's HTTP client: the engine's typed client in front of every
 * API process, asking again (the same request, so the same Idempotency-Key or
 * business key) until some process gives a definite answer: a 2xx or a 4xx.
 * A refused connection, a reset, a timeout, a 5xx or a 429 is no answer.
 */
import { type AlluseClient, createAlluseClient } from '../src/client';

/** A request that got no definite answer before its deadline. */
export class Unanswered extends Error {
  constructor(what: string, readonly lastFailure: string) {
    super(`${what}: no answer before the deadline (last: ${lastFailure})`);
    this.name = 'Unanswered';
  }
}

export interface Answer<T> {
  status: number;
  data?: T;
  /** The problem document of a 4xx. */
  problem?: { code?: string; detail?: string; operationId?: string };
}

interface Exchange<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export interface HttpStats {
  requests: number;
  /** Tries that got no answer (connection refused or reset, timeout, 5xx, 429) and were made again. */
  retries: number;
}

const REQUEST_TIMEOUT_MS = 30_000;

export class RetryingApi {
  readonly stats: HttpStats = { requests: 0, retries: 0 };
  private readonly clients: AlluseClient[];
  private turn = 0;

  constructor(urls: string[], apiKey: string, private readonly deadline: () => number) {
    const timed = (req: Request) => fetch(req, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    this.clients = urls.map((baseUrl) => createAlluseClient({ baseUrl, apiKey, fetch: timed, userAgent: 'alluse-chaos' }));
  }

  /**
   * Sends `call` to the API processes in turn, with capped backoff, until a
   * 2xx or 4xx answer; throws Unanswered at the deadline.
   */
  async send<T>(what: string, call: (api: AlluseClient) => Promise<Exchange<T>>): Promise<Answer<T>> {
    this.stats.requests++;
    let delay = 100;
    let last = 'never sent';
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.stats.retries++;
        if (Date.now() + delay > this.deadline()) throw new Unanswered(what, last);
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, 2_000);
      }
      const api = this.clients[this.turn++ % this.clients.length]!;
      try {
        const { data, error, response } = await call(api);
        if (response.status < 400) return { status: response.status, data };
        if (response.status < 500 && response.status !== 429) {
          const p = (error ?? {}) as { code?: string; detail?: string; operationId?: string; details?: { operationId?: string } };
          return { status: response.status, problem: { code: p.code, detail: p.detail, operationId: p.operationId ?? p.details?.operationId } };
        }
        last = `HTTP ${response.status}`;
      } catch (err) {
        last = describe(err);
      }
    }
  }
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  return [e.name, e.cause?.code ?? e.cause?.message ?? e.message].filter(Boolean).join(': ');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
