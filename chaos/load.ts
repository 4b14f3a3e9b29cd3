/**
 * The mixed load of a chaos run, entirely over HTTP: lanes that make their
 * portfolio's accounts eligible with a premium and then ask for a fork, a
 * merge or a reinvestment and follow it to its end; and posting clients that
 * record small premiums and fees on every known account. Every posting
 * carries an Idempotency-Key that the client keeps across its retries, and
 * every request is asked again until some API process answers it.
 */
import type { Schemas } from '../src/client';
import { Dec, ZERO, formatMoney, fromDb, money } from '../src/domain/money';
import { type Prng, stream } from './prng';
import { type RetryingApi, sleep, Unanswered } from './http';

type Portfolio = Schemas['Portfolio'];
type ActivityType = 'premium' | 'fee';

/** One Idempotency-Key: what was sent and the answer it finally got. */
export interface PostingRecord {
  key: string;
  accountId: string;
  type: ActivityType;
  amount: string;
  /** The definite answer's status; undefined: none before the deadline. */
  answer?: number;
  /** Why the last try got no answer, when none came. */
  lastFailure?: string;
}

export type OpKind = 'fork' | 'merge' | 'reinvestment';

export interface OpRequest {
  kind: OpKind;
  /** `started`: 202; `joined`: 409 naming the operation already running under that business key; `refused`: another 4xx. */
  outcome: 'started' | 'joined' | 'refused' | 'unanswered';
  operationId?: string;
  /** The operation's status when the lane stopped following it. */
  lastStatus?: string;
  detail?: string;
}

export interface LoadOptions {
  seed: number;
  api: RetryingApi;
  /** Portfolios the lanes work on; lane i works on portfolios[i % length]. */
  portfolios: string[];
  lanes: number;
  postingsPerSecond: number;
  /** False once no new cycle or posting is to start. */
  loading: () => boolean;
}

/** The quarters a lane reinvests, oldest first: 2000Q1 .. 2026Q3 (all closed). */
const QUARTERS = Array.from({ length: 107 }, (_, i) => `${2000 + Math.floor(i / 4)}Q${(i % 4) + 1}`);
const FOLLOW_FOR_MS = 180_000;
const POLL_MS = 750;
/** Postings in flight at once: one that gets no answer for a while does not hold back the others. */
const MAX_POSTINGS_IN_FLIGHT = 32;
/** The default merge threshold (docs/domain.md); the lanes' portfolios keep it. */
const MERGE_THRESHOLD = money('500000.00');

export class ChaosLoad {
  readonly postings = new Map<string, PostingRecord>();
  readonly requests: OpRequest[] = [];
  /** Active Gen/Rev/Com accounts seen by the lanes, for the posting clients. */
  private readonly known = new Map<string, 'gen' | 'rev' | 'com'>();
  private readonly nextQuarter = new Map<string, number>();

  constructor(private readonly o: LoadOptions) {}

  async run(): Promise<void> {
    const lanes = Array.from({ length: this.o.lanes }, (_, i) => this.lane(i));
    await Promise.all([...lanes, this.postingClient()]);
  }

  /** One line for the progress log. */
  progress(): string {
    const answered = [...this.postings.values()].filter((p) => p.answer !== undefined).length;
    return `${this.operationsAsked} operations asked, ${this.postings.size} postings sent (${answered} answered), ${this.o.api.stats.retries} tries again so far`;
  }

  private get loading(): boolean {
    return this.o.loading();
  }

  /** Distinct operations the requests named (started, or joined while running): a lower bound of the operations attempted. */
  get operationsAsked(): number {
    return new Set(this.requests.map((r) => r.operationId).filter(Boolean)).size;
  }

  // ---- lanes ----

  private async lane(i: number): Promise<void> {
    const rng = stream(this.o.seed, 1000 + i);
    const portfolioId = this.o.portfolios[i % this.o.portfolios.length]!;
    let n = 0;
    while (this.loading) {
      try {
        const p = await this.portfolio(portfolioId);
        const roll = rng.next();
        const req = roll < 0.35 ? await this.fork(p, rng, i, n) : roll < 0.6 ? await this.merge(p, rng, i, n) : await this.reinvest(p, rng, i, n);
        n++;
        if (!req) {
          await sleep(200);
          continue;
        }
        this.requests.push(req);
        if (req.operationId) req.lastStatus = await this.follow(req.operationId);
      } catch (err) {
        if (!(err instanceof Unanswered)) throw err;
        // The run's end came while every API was down; the checks report what landed.
        return;
      }
    }
  }

  private async portfolio(id: string): Promise<Portfolio> {
    const a = await this.o.api.send('get portfolio', (api) => api.GET('/v1/portfolios/{id}', { params: { path: { id } } }));
    if (!a.data) throw new Error(`GET /v1/portfolios/${id} answered ${a.status}: ${a.problem?.detail}`);
    for (const u of a.data.units) {
      for (const acct of u.accounts) {
        if (u.status === 'active' && acct.status === 'active') this.known.set(acct.id, acct.type);
        else this.known.delete(acct.id);
      }
    }
    return a.data;
  }

  /** A premium that takes the root Gen-Acc past the fork threshold, then the fork. */
  private async fork(p: Portfolio, rng: Prng, lane: number, n: number): Promise<OpRequest | undefined> {
    const gen = p.units.find((u) => u.kind === 'root')?.accounts.find((a) => a.type === 'gen' && a.status === 'active');
    if (!gen) return undefined;
    await this.post(`l${lane}-${n}`, gen.id, 'premium', rng.cents(5_000_000, 5_500_000));
    return this.operation('fork', (api) => api.POST('/v1/accounts/{id}/fork', { params: { path: { id: gen.id } }, body: {} }));
  }

  /** A premium on a forked unit's Com-Acc that takes the unit past the merge threshold, then the merge. */
  private async merge(p: Portfolio, rng: Prng, lane: number, n: number): Promise<OpRequest | undefined> {
    const units = p.units.filter((u) => u.kind === 'forked' && u.status === 'active' && u.accounts.every((a) => a.status === 'active'));
    if (units.length === 0) return this.fork(p, rng, lane, n);
    const unit = rng.pick(units);
    const com = unit.accounts.find((a) => a.type === 'com')!;
    const total = unit.accounts.reduce((sum, a) => sum.plus(fromDb(a.balance)), ZERO);
    const missing = Dec.max(ZERO, MERGE_THRESHOLD.minus(total));
    await this.post(`l${lane}-${n}`, com.id, 'premium', formatMoney(missing.plus(rng.cents(1, 100_000))));
    return this.operation('merge', (api) => api.POST('/v1/units/{id}/merge', { params: { path: { id: unit.id } }, body: {} }));
  }

  /** Cash on a Rev-Acc or Com-Acc, then its reinvestment for the next quarter this lane has not asked for. */
  private async reinvest(p: Portfolio, rng: Prng, lane: number, n: number): Promise<OpRequest | undefined> {
    const accounts = p.units.filter((u) => u.status === 'active').flatMap((u) => u.accounts).filter((a) => a.type !== 'gen' && a.status === 'active');
    if (accounts.length === 0) return undefined;
    const acct = rng.pick(accounts);
    const q = this.nextQuarter.get(acct.id) ?? 0;
    if (q >= QUARTERS.length) return undefined;
    this.nextQuarter.set(acct.id, q + 1);
    await this.post(`l${lane}-${n}`, acct.id, 'premium', rng.cents(200_000, 2_000_000));
    const quarter = QUARTERS[q]!;
    return this.operation('reinvestment', (api) => api.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: acct.id } }, body: { quarter } }));
  }

  private async operation(kind: OpKind, call: Parameters<RetryingApi['send']>[1]): Promise<OpRequest> {
    try {
      const a = await this.o.api.send(kind, call);
      if (a.status === 202) return { kind, outcome: 'started', operationId: (a.data as { operationId: string }).operationId };
      if (a.status === 409 && a.problem?.operationId) return { kind, outcome: 'joined', operationId: a.problem.operationId };
      return { kind, outcome: 'refused', detail: `${a.status} ${a.problem?.code ?? ''}: ${a.problem?.detail ?? ''}` };
    } catch (err) {
      if (!(err instanceof Unanswered)) throw err;
      return { kind, outcome: 'unanswered', detail: err.message };
    }
  }

  /** Polls the operation until it ends, or gives up following it after a while (the final checks see it either way). */
  private async follow(operationId: string): Promise<string> {
    const until = Date.now() + FOLLOW_FOR_MS;
    for (;;) {
      const a = await this.o.api.send('get operation', (api) => api.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }));
      const status = a.data?.status ?? `HTTP ${a.status}`;
      if (!['running', 'waiting'].includes(status) || Date.now() > until) return status;
      await sleep(POLL_MS);
    }
  }

  // ---- postings ----

  /**
   * Small premiums and fees on every account the lanes have seen, at a steady
   * rate, each sent (and asked again) on its own: a posting that gets no
   * answer for a while does not hold back the ones after it.
   */
  private async postingClient(): Promise<void> {
    const rng = stream(this.o.seed, 2000);
    const interval = 1000 / this.o.postingsPerSecond;
    const inFlight = new Set<Promise<unknown>>();
    const start = Date.now();
    for (let n = 0; this.loading; n++) {
      await sleep(start + n * interval - Date.now());
      if (inFlight.size >= MAX_POSTINGS_IN_FLIGHT) await Promise.race(inFlight);
      const accounts = [...this.known.entries()];
      if (accounts.length === 0) continue;
      const [accountId, type] = rng.pick(accounts);
      const fee = type !== 'gen' && rng.chance(0.15);
      const sent: Promise<unknown> = this.post(`p${n}`, accountId, fee ? 'fee' : 'premium', fee ? rng.cents(50, 5_000) : rng.cents(100, 30_000))
        .catch((err: unknown) => {
          if (!(err instanceof Unanswered)) throw err;
        })
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    }
    await Promise.all(inFlight);
  }

  /** One posting with its own Idempotency-Key, sent until it is answered; the key and the answer are kept for the checks. */
  private async post(suffix: string, accountId: string, type: ActivityType, amount: string): Promise<number> {
    const key = `chaos-s${this.o.seed}-${suffix}`;
    const record: PostingRecord = { key, accountId, type, amount };
    this.postings.set(key, record);
    try {
      const a = await this.o.api.send('post activity', (api) => api.POST('/v1/accounts/{id}/activity', {
        params: { path: { id: accountId }, header: { 'idempotency-key': key } },
        body: { type, amount },
      }));
      record.answer = a.status;
      return a.status;
    } catch (err) {
      if (err instanceof Unanswered) record.lastFailure = err.lastFailure;
      throw err;
    }
  }
}
