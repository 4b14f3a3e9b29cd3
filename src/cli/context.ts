/**
 * What every command gets: the output, the typed client (built on first
 * use, so `--help` and usage errors need no config), and `call`, which turns
 * each way a request can fail into a CliError with an exit code and a hint.
 */
import { ApiError, type AlluseClient, createAlluseClient, ok, toApiError } from '../client';
import { type Credentials, normalizeUrl, resolveCredentials } from './config';
import { CliError, EXIT } from './exit-codes';
import { Output } from './output';

export interface GlobalOptions {
  json?: boolean;
  color?: boolean;
}

/** Per status, what to say instead of the generic message (a 404 knows what was not found). */
export interface Hints {
  [status: number]: string | undefined;
  /**
   * For a write that is not idempotent (a post with a fresh key, a start):
   * what to check when its outcome is unknown (no answer in time, a 502-504,
   * the connection lost after sending). Said instead of "try again", which
   * could do it twice.
   */
  unsure?: string;
}

const USER_AGENT = 'alluse-cli/0.1';
export const DEFAULT_TIMEOUT_MS = 30_000;

export class Context {
  readonly out: Output;
  private creds?: Credentials;
  private client?: AlluseClient;

  constructor(readonly opts: GlobalOptions) {
    this.out = new Output({ json: Boolean(opts.json), color: opts.color });
  }

  get credentials(): Credentials {
    this.creds ??= resolveCredentials();
    return this.creds;
  }

  /** The client with the stored or environment key; not being logged in is exit 3 with what to run. */
  get api(): AlluseClient {
    this.client ??= this.clientWithTimeout(DEFAULT_TIMEOUT_MS);
    return this.client;
  }

  /** A client with its own request deadline (projections take seconds). */
  clientWithTimeout(timeoutMs: number): AlluseClient {
    const { url, apiKey, storedUrl } = this.credentials;
    if (!apiKey && storedUrl) {
      throw new CliError(`no API key for ${url}: the stored key belongs to ${storedUrl}, and it is not sent to another host`, EXIT.auth, [
        `set ALLUSE_API_KEY to a key of ${url}, or run \`alluse login --url ${url}\` (it replaces the stored URL and key), or unset ALLUSE_URL to use ${storedUrl}`,
      ]);
    }
    if (!apiKey) {
      throw new CliError('not logged in', EXIT.auth, [
        `run \`alluse login --url ${url}\` (\`npm start\` wrote an admin key to .data/admin-api-key), or set ALLUSE_API_KEY`,
      ]);
    }
    return clientFor(normalizeUrl(url), apiKey, timeoutMs);
  }

  /** `alluse login`: the URL and key being tried, so errors speak of them and not of the stored ones. */
  useCredentials(creds: Credentials): void {
    this.creds = creds;
    this.client = undefined;
  }

  /** The data of a request, or a CliError that says what failed and what to do. */
  async call<R extends Answer>(request: Promise<R>, hints: Hints = {}): Promise<Exclude<R['data'], undefined>> {
    try {
      return await ok(request);
    } catch (err) {
      throw this.explain(err, hints);
    }
  }

  /** As call, with the response too (for headers such as Idempotent-Replayed). */
  async answer<R extends Answer>(request: Promise<R>, hints: Hints = {}): Promise<{ data: Exclude<R['data'], undefined>; response: Response }> {
    let answer: R;
    try {
      answer = await request;
    } catch (err) {
      throw this.explain(err, hints);
    }
    if (!answer.response.ok) throw this.explain(toApiError(answer.response, answer.error), hints);
    return { data: answer.data as Exclude<R['data'], undefined>, response: answer.response };
  }

  explain(err: unknown, hints: Hints = {}): unknown {
    if (err instanceof ApiError) return explainApiError(err, hints, this.credentials);
    const network = explainNetworkError(err, this.credentials.url, hints.unsure);
    return network ?? err;
  }
}

/** A failure worth polling again for: rate limiting, a 502-504, no answer in time, a connection refused or lost. */
export function isTransient(err: unknown): boolean {
  if (err instanceof ApiError) return [429, 502, 503, 504].includes(err.status);
  const e = err as { name?: string; message?: string; cause?: { message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  return err instanceof TypeError && e.message === 'fetch failed' && e.cause?.message !== 'bad port';
}

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

export function clientFor(url: string, apiKey: string, timeoutMs = DEFAULT_TIMEOUT_MS): AlluseClient {
  return createAlluseClient({
    baseUrl: url,
    apiKey,
    userAgent: USER_AGENT,
    // Every request has a deadline: a hung engine is exit 7, not a hung terminal.
    fetch: (req) => fetch(req, { signal: AbortSignal.timeout(timeoutMs) }),
  });
}

function explainApiError(err: ApiError, hints: Hints, creds: Credentials): CliError {
  const p = err.problem;
  const detail = hints[err.status] ?? p.detail;
  const fields = (p.errors ?? []).map((e) => `${e.path}: ${e.message}`);
  const reasons = p.reasons ?? [];
  // With --json the problem document itself is printed: scripts read `code` and `reasons` from it.
  const doc = p;
  switch (true) {
    case err.status === 401 && creds.keySource === 'login':
      return new CliError(`the engine at ${creds.url} refused this key (401: ${p.detail}); nothing was saved`, EXIT.auth, [
        'check the key: `npm start` wrote the admin key to .data/admin-api-key; an admin creates others with POST /v1/api-keys',
      ], [], doc);
    case err.status === 401: {
      const which = creds.keySource === 'ALLUSE_API_KEY' ? 'the key in ALLUSE_API_KEY' : 'the stored key';
      return new CliError(`the engine refused ${which} (401: ${p.detail})`, EXIT.auth, [
        creds.keySource === 'ALLUSE_API_KEY'
          ? 'fix or unset ALLUSE_API_KEY (it wins over the config file)'
          : 'run `alluse login` with a valid key (the admin key of `npm start` is in .data/admin-api-key)',
      ], [], doc);
    }
    case err.status === 403:
      return new CliError(`this key's role is too low for that (403: ${p.detail})`, EXIT.auth, [
        'ask an admin for an operator or admin key (POST /v1/api-keys), then run `alluse login` with it',
      ], [], doc);
    case err.status === 404:
      return new CliError(detail, EXIT.notFound, ['check the id: `alluse portfolios`, `alluse tree <portfolio>` (units, accounts), `alluse ops`, `alluse tasks`'], [], doc);
    case err.status === 409:
      return new CliError(detail, EXIT.refused, p.operationId ? [`see it with \`alluse watch ${p.operationId}\``] : [], reasons, doc);
    case err.status === 422:
      return new CliError(detail, EXIT.refused, hintFor422(p.code), reasons.length ? reasons : fields, doc);
    case err.status === 400 || err.status === 413 || err.status === 415:
      return new CliError(detail, EXIT.usage, ['check the arguments (add --help for usage)'], fields, doc);
    case err.status === 429:
      return new CliError(`rate limited: ${p.detail}`, EXIT.unreachable, [`try again in ${err.headers?.get('retry-after') ?? 'a few'} seconds`], [], doc);
    case (err.status === 502 || err.status === 503 || err.status === 504) && hints.unsure !== undefined:
      // A proxy's 502 or 504 can come after the engine did the work: the outcome is unknown.
      return new CliError(`no confirmation from the engine (${err.status}: ${p.detail})`, EXIT.unreachable, [hints.unsure], [], doc);
    case err.status === 502 || err.status === 503 || err.status === 504:
      return new CliError(`the engine is not ready (${err.status}: ${p.detail})`, EXIT.unreachable, ['wait for `npm start` to finish starting, then try again'], [], doc);
    default: {
      const id = p.errorId ? ` (errorId ${p.errorId})` : '';
      return new CliError(`the engine failed${id}: ${p.detail}`, EXIT.failure, [
        p.errorId ? `quote errorId ${p.errorId} to whoever runs the engine: its log has the details` : 'the engine log has the details',
      ], [], doc);
    }
  }
}

function hintFor422(code: string | undefined): string[] {
  switch (code) {
    case 'NotEligible':
      return ['nothing was started; the reasons above say what must change'];
    case 'InsufficientFunds':
      return ['the debit is larger than the balance: check it with `alluse account <id>`'];
    case 'BufferViolation':
      return ['withdrawals leave the cash buffer in place: withdraw at most the amount above'];
    case 'WithdrawalNotAllowed':
      return ['money leaves a Com-Acc only by a merge'];
    default:
      return [];
  }
}

/** Connection failures that happen before the request is sent: nothing can have been done. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** fetch's own failures: refused, unknown host, a blocked port, timeout, the connection lost. */
function explainNetworkError(err: unknown, url: string, unsure?: string): CliError | undefined {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new CliError(`the engine at ${url} did not answer in time`, EXIT.unreachable, [
      ...(unsure ? [unsure] : []), 'is it overloaded or stuck? `GET /readyz` says which dependency is down',
    ]);
  }
  if (!(err instanceof TypeError && e.message === 'fetch failed')) return undefined;
  // fetch refuses "unsafe" ports (6000, 6665-6669, 9, ...) before connecting: the engine is not the problem.
  if (e.cause?.message === 'bad port') {
    const port = portOf(url);
    return new CliError(`port ${port} is blocked by fetch; use another port`, EXIT.usage, [
      `fetch never connects to port ${port} (the Fetch standard's list of unsafe ports): run the engine on another PORT and point ALLUSE_URL or \`alluse login --url\` at it`,
    ]);
  }
  const why = e.cause?.code ?? e.cause?.message ?? 'network error';
  if (e.cause?.code && NOT_SENT.has(e.cause.code)) {
    return new CliError(`cannot reach the engine at ${url} (${why})`, EXIT.unreachable, [
      'is the engine running? (`npm start`)',
      'is the URL right? (`alluse login --url <url>`, or ALLUSE_URL)',
    ]);
  }
  // Reset or closed after the request went out: the engine may have done it.
  return new CliError(`lost the connection to the engine at ${url} (${why})`, EXIT.unreachable, [
    unsure ?? 'try again; if it keeps happening, the engine log says why',
  ]);
}

function portOf(url: string): string {
  try {
    const u = new URL(url);
    return u.port || (u.protocol === 'https:' ? '443' : '80');
  } catch {
    return '?';
  }
}
