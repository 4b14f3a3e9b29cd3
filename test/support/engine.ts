import { randomUUID } from 'node:crypto';
import { type AlluseClient, ApiError, type Schemas, ok, type paths } from '../../src/client';
import type { ForkContext, ImportResult, MergeContext, OperationResult, ReinvestContext, ScanReport } from '../../src/shared/operations';

/**
 * Typed helpers over the engine's own client (src/client): set a portfolio
 * up, post activity, start operations and wait for them, and poll for
 * anything else by a deadline. Every call goes through `ok()`, so a refusal
 * is an `ApiError` with the server's problem document.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Timing {
  /** How long to keep trying: a deadline, never a number of tries (CI is a loaded 2-core machine). */
  timeoutMs?: number;
  intervalMs?: number;
}

const shown = (value: unknown) => {
  const text = value instanceof Error ? `${value.name}: ${value.message}` : JSON.stringify(value);
  return text && text.length > 500 ? `${text.slice(0, 500)}...` : text;
};

/**
 * Polls `probe` until its value satisfies `until` (without one: until the
 * value is truthy, which it then returns) or the deadline passes, when it
 * throws naming `what` and the last value.
 */
export function eventually<T>(what: string, probe: () => Promise<T>, opts: Timing & { until: (value: T) => boolean }): Promise<T>;
export function eventually<T>(what: string, probe: () => Promise<T | false | null | undefined>, opts?: Timing): Promise<T>;
export async function eventually<T>(what: string, probe: () => Promise<T>, opts: Timing & { until?: (value: T) => boolean } = {}): Promise<T> {
  const { until = Boolean, timeoutMs = 30_000, intervalMs = 100 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (until(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${shown(value)})`);
    await sleep(intervalMs);
  }
}

interface Answer {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The HTTP status of a typed call, for tests about the status itself (a refusal, a role, a conflict). */
export const statusOf = async (call: Promise<Answer>): Promise<number> => (await call).response.status;

/** The `ApiError` a call (or a helper that uses `ok()`) was refused with; fails when it succeeded. */
export async function refused(call: Promise<unknown>): Promise<ApiError> {
  let value: unknown;
  try {
    value = await call;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error(`expected a refusal, got ${shown(value)}`);
}

/** The data of an answer with exactly `status` (202 where 200 answers a dry run); an ApiError for a failure. */
export async function okWith<R extends Answer>(status: number, call: Promise<R>): Promise<Exclude<R['data'], undefined>> {
  const answer = await call;
  const data = await ok(Promise.resolve(answer));
  if (answer.response.status !== status) throw new Error(`expected ${status}, got ${answer.response.status}: ${shown(data)}`);
  return data;
}

export type Operation = Schemas['Operation'];
/** An operation with its `result` read as `R` (the API documents `result` as free-form: its shape depends on the type). */
export type Settled<R> = Omit<Operation, 'result'> & { result: R };
export type ForkSummary = Pick<ForkContext, 'parentAccountId' | 'newUnitId' | 'newGenAccountId' | 'newComAccountId' | 'surplus' | 'retained' | 'forkAmount' | 'childGen' | 'childCom'>;
export type MergeSummary = Pick<MergeContext, 'unitId' | 'targetAccountId' | 'targetUnitId' | 'total' | 'sources'>;
export type ReinvestSummary = Pick<ReinvestContext, 'accountId' | 'quarter' | 'strategy' | 'regime' | 'reinvestable' | 'contracts' | 'leaps' | 'reserve' | 'reason'>;
type SagaResult<S> = Omit<OperationResult, 'summary'> & { summary: S };
export type ForkResult = SagaResult<ForkSummary>;
export type MergeResult = SagaResult<MergeSummary>;
export type ReinvestResult = SagaResult<ReinvestSummary>;
export type { ImportResult, ScanReport };

type JsonBody<P extends keyof paths> = paths[P] extends { post: { requestBody?: { content: { 'application/json': infer B } } } } ? B : never;
export type ForkRequest = JsonBody<'/v1/accounts/{id}/fork'>;
export type MergeRequest = JsonBody<'/v1/units/{id}/merge'>;
export type ReinvestRequest = JsonBody<'/v1/accounts/{id}/reinvest'>;
export type ScanRequest = JsonBody<'/v1/scans'>;
export type ActivityType = Schemas['Activity']['type'];
export type Settings = NonNullable<Schemas['CreatePortfolio']['settings']>;
export type NewPortfolio = Schemas['CreatePortfolio'];

/** A portfolio as created: the ids tests use, and the whole answer. */
export interface OpenedPortfolio {
  id: string;
  rootUnitId: string;
  gen: string;
  rev: string;
  com: string;
  body: Schemas['Portfolio'];
}

/** The root unit's account of a type. */
export function accountOf(p: Schemas['Portfolio'], type: Schemas['Account']['type']): Schemas['Account'] {
  const account = p.units.find((u) => u.kind === 'root')?.accounts.find((a) => a.type === type);
  if (!account) throw new Error(`portfolio ${p.id} has no root ${type} account`);
  return account;
}

const OPEN: ReadonlySet<Operation['status']> = new Set(['running', 'waiting']);

export type EngineHelpers = ReturnType<typeof engineHelpers>;

/** The helpers, on a client (the admin's, unless a test says otherwise). */
export function engineHelpers(api: AlluseClient) {
  const createPortfolio = async (body: NewPortfolio): Promise<OpenedPortfolio> => {
    const created = await okWith(201, api.POST('/v1/portfolios', { body }));
    return { id: created.id, rootUnitId: created.units.find((u) => u.kind === 'root')!.id, gen: accountOf(created, 'gen').id, rev: accountOf(created, 'rev').id, com: accountOf(created, 'com').id, body: created };
  };
  /** A new portfolio of `initialCapital` with settings overrides; `more` for the rest of the request (name, template, openedAt). */
  const portfolio = (initialCapital = '300000.00', settings: Settings = {}, more: Partial<NewPortfolio> = {}) =>
    createPortfolio({ name: 'P', owner: 'o', initialCapital, settings, ...more });

  /** Records an activity under a fresh Idempotency-Key (or the one given); its entry and the account after it. */
  const activity = (accountId: string, type: ActivityType, amount: string, more: Omit<Schemas['Activity'], 'type' | 'amount'> & { idempotencyKey?: string } = {}) => {
    const { idempotencyKey = randomUUID(), ...rest } = more;
    return okWith(201, api.POST('/v1/accounts/{id}/activity', {
      params: { path: { id: accountId }, header: { 'idempotency-key': idempotencyKey } }, body: { type, amount, ...rest },
    }));
  };

  const account = (id: string) => ok(api.GET('/v1/accounts/{id}', { params: { path: { id } } }));
  const tree = (id: string) => ok(api.GET('/v1/portfolios/{id}', { params: { path: { id } } }));
  const integrity = (id: string) => ok(api.GET('/v1/portfolios/{id}/integrity', { params: { path: { id } } }));
  const operation = (operationId: string) => ok(api.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }));

  /** Polls an operation; a refused read (not visible yet) counts as no answer, shown if the deadline passes. */
  const pollOperation = (operationId: string, what: string, done: (op: Operation) => boolean, timeoutMs: number) =>
    eventually(what, () => operation(operationId).catch((err: unknown) => {
      if (err instanceof ApiError) return err;
      throw err;
    }), { until: (v) => !(v instanceof ApiError) && done(v), timeoutMs, intervalMs: 150 }) as Promise<Operation>;

  /** The operation once it has ended (neither running nor waiting). */
  const waitFor = async <R = unknown>(operationId: string, timeoutMs = 45_000): Promise<Settled<R>> =>
    (await pollOperation(operationId, `operation ${operationId} to end`, (op) => !OPEN.has(op.status), timeoutMs)) as Settled<R>;

  /** The operation once it is `status`; throws as soon as it ends otherwise. */
  const until = async <R = unknown>(operationId: string, status: Operation['status'], timeoutMs = 45_000): Promise<Settled<R>> => {
    const op = await pollOperation(operationId, `operation ${operationId} to be ${status}`, (o) => o.status === status || !OPEN.has(o.status), timeoutMs);
    if (op.status !== status) throw new Error(`${operationId} ended ${op.status}, not ${status}: ${shown(op.error)}`);
    return op as Settled<R>;
  };

  /** Starts an operation: its id (202; an ApiError when refused). */
  const startFork = async (accountId: string, body: ForkRequest = {}) =>
    (await okWith(202, api.POST('/v1/accounts/{id}/fork', { params: { path: { id: accountId } }, body }))).operationId as string;
  const startMerge = async (unitId: string, body: MergeRequest = {}) =>
    (await okWith(202, api.POST('/v1/units/{id}/merge', { params: { path: { id: unitId } }, body }))).operationId as string;
  const startReinvest = async (accountId: string, body: ReinvestRequest = {}) =>
    (await okWith(202, api.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: accountId } }, body }))).operationId as string;
  const startScan = async (body: ScanRequest = {}) => (await okWith(202, api.POST('/v1/scans', { body }))).operationId;

  /** Starts an operation and waits for its end. */
  const fork = async (accountId: string, body?: ForkRequest) => waitFor<ForkResult>(await startFork(accountId, body));
  const merge = async (unitId: string, body?: MergeRequest) => waitFor<MergeResult>(await startMerge(unitId, body));
  const reinvest = async (accountId: string, body?: ReinvestRequest) => waitFor<ReinvestResult>(await startReinvest(accountId, body));
  const scan = async (body?: ScanRequest) => waitFor<ScanReport>(await startScan(body));
  /** A fork that must complete: what it created. */
  const forked = async (accountId: string): Promise<ForkSummary> => {
    const op = await fork(accountId);
    if (op.status !== 'completed') throw new Error(`fork of ${accountId} ended ${op.status}: ${shown(op.error)}`);
    return op.result.summary;
  };

  /** An operation's open task (the first whose title contains `titlePart`, when given), once it exists. */
  const openTask = (operationId: string, titlePart?: string, timeoutMs = 45_000) =>
    eventually(`an open task of ${operationId}${titlePart ? ` titled "${titlePart}..."` : ''}`, async () =>
      (await ok(api.GET('/v1/tasks', { params: { query: { status: 'open' } } }))).items
        .find((t) => t.operationId === operationId && (!titlePart || t.title.includes(titlePart))), { timeoutMs, intervalMs: 150 });
  const decide = (taskId: string, body: NonNullable<JsonBody<'/v1/tasks/{id}/decide'>>) =>
    ok(api.POST('/v1/tasks/{id}/decide', { params: { path: { id: taskId } }, body }));

  /**
   * Uploads a statement file as is (202); `importId` and `operationId`.
   * bench/run.ts uploads the same way.
   */
  const importStatement = (portfolioId: string, text: string, contentType = 'text/csv', query: NonNullable<paths['/v1/portfolios/{id}/imports']['post']['parameters']['query']> = {}) =>
    okWith(202, api.POST('/v1/portfolios/{id}/imports', {
      params: { path: { id: portfolioId }, query }, body: text, bodySerializer: (b: string) => b, headers: { 'content-type': contentType },
    }));
  const importOf = (id: string) => ok(api.GET('/v1/imports/{id}', { params: { path: { id } } }));

  return {
    api, createPortfolio, portfolio, activity, account, tree, integrity, operation, waitFor, until,
    startFork, startMerge, startReinvest, startScan, fork, merge, reinvest, scan, forked,
    openTask, decide, importStatement, importOf,
  };
}
