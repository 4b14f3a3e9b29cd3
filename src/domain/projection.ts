import type Decimal from 'decimal.js';
import { DomainError } from './errors';
import { type ForkCandidate, forkEligibility, forkPlan } from './fork';
import { rankMergeCandidates } from './merge';
import { Dec, cents } from './money';
import { openingSplit } from './opening';
import { type PortfolioSettings, type TemplateName, defaultSettings, resolveSettings, type SettingsOverrides } from './settings';

export const WEEKS_PER_YEAR = 52;
const DAYS_PER_WEEK = 7;
const DAY_MS = 86_400_000;

/**
 * Where a new portfolio's simulated calendar starts. Any fixed instant does
 * (the rules only compare durations); a fixed one keeps projections repeatable.
 */
export const SIMULATED_EPOCH = new Date(Date.UTC(2000, 0, 3));

/**
 * Limits: balances are exact integer cents in JavaScript numbers, so every
 * amount of a projection (each account, each total) must stay at or below
 * 2^53 - 1 cents. Past it the projection stops with ProjectionRangeError
 * rather than lose a cent.
 */
export const MAX_EXACT_CENTS = Number.MAX_SAFE_INTEGER;
export const MAX_EXACT_AMOUNT = '90071992547409.91';
/** MAX_EXACT_AMOUNT as people read it in messages: "$90,071,992,547,409.91". */
export const MAX_EXACT_AMOUNT_TEXT = `$${MAX_EXACT_AMOUNT.replace(/\B(?=(\d{3})+\.)/g, ',')}`;

/**
 * The projection cannot be computed exactly: an amount would pass
 * MAX_EXACT_AMOUNT. `week` is where: 0 when an amount at the start already
 * does, else the week (1-based) in which the growth would. It is a property of
 * the input, never an internal failure, hence an `OutOfRange` DomainError (a
 * 422 even where no caller names the input to lower).
 */
export class ProjectionRangeError extends DomainError {
  readonly year: number;

  constructor(readonly week: number) {
    const year = Math.ceil(week / WEEKS_PER_YEAR);
    super(
      'OutOfRange',
      week === 0
        ? `an amount at the start is above ${MAX_EXACT_AMOUNT_TEXT}, the largest amount a projection computes exactly`
        : `the projection would exceed ${MAX_EXACT_AMOUNT_TEXT}, the largest amount it computes exactly, in year ${year} (week ${week})`,
      { week, year },
    );
    this.year = year;
  }
}

/** docs/domain.md section 2: the market-year mix for projections. */
export const MARKET_MIX = [
  { kind: 'good', share: 0.6, multiplier: '1.10' },
  { kind: 'average', share: 0.3, multiplier: '1.00' },
  { kind: 'poor', share: 0.1, multiplier: '0.80' },
] as const;

export interface ProjectionInput {
  initialCapital: Decimal;
  years: number;
  template?: TemplateName;
  settings?: SettingsOverrides;
  marketMix?: boolean;
  seed?: number;
}

export interface StartAccount {
  type: 'gen' | 'rev' | 'com';
  balance: Decimal;
  baseBalance: Decimal;
  /** When the account opened: its age counts against minAccountAgeDays. */
  createdAt: Date;
  /** Its last fork (the cooling period runs from it); null if it never forked. */
  lastForkAt: Date | null;
  /** `noFork`: this Gen-Acc never forks (the "without this fork" side of a predicted impact). */
  noFork?: boolean;
}

/** Where a projection starts: a fresh portfolio from its capital, or an existing portfolio's tree. */
export interface ProjectionStart {
  settings: PortfolioSettings;
  /** The instant week 1 begins: SIMULATED_EPOCH for a new portfolio, the database's now for an existing one. */
  at: Date;
  /** Forks the portfolio already made on the calendar day of `at` (they count against maxForksPerDay on day 1). */
  forksToday?: number;
  units: {
    key: string;
    parentKey: string | null;
    kind: 'root' | 'forked';
    accounts: StartAccount[];
  }[];
}

export interface ProjectionOptions {
  years: number;
  marketMix?: boolean;
  seed?: number;
  /** Called for every fork the projection makes, with exactly what forkEligibility approved. */
  onFork?: (fork: SimulatedFork) => void;
  /**
   * Offer every Gen-Acc to the fork rule on every simulated day, without the
   * shortcuts of ForkDays (for tests that check the shortcuts change nothing;
   * far slower on a large tree).
   */
  exhaustive?: boolean;
}

/** One fork of a projection and the facts it was decided on. */
export interface SimulatedFork {
  week: number;
  /** 0-6: the simulated day of the week (see project()). */
  day: number;
  /** The simulated instant: start.at + (7 * (week - 1) + day) days. */
  at: Date;
  /** Forks the portfolio had already made on this simulated day. */
  forksToday: number;
  /** The unit whose Gen-Acc forked, and the unit the fork created ("fork-<n>"). */
  parentKey: string;
  unitKey: string;
  candidate: ForkCandidate;
  amount: string;
}

export interface ProjectionYear {
  year: number;
  marketYear: string;
  total: string;
  byType: { gen: string; rev: string; com: string; forked: string };
  income: string;
  activeForkedUnits: number;
  forkedUnitsCreated: number;
  forks: number;
  merges: number;
}

export interface ProjectionWeek {
  week: number;
  total: string;
  gen: string;
  rev: string;
  com: string;
  forked: string;
  activeForkedUnits: number;
}

export interface ProjectionResult {
  years: ProjectionYear[];
  weeks: ProjectionWeek[];
  forks: { week: number; amount: string }[];
  merges: { week: number; amount: string }[];
}

/** Cents as an exact Decimal (parsed, not divided). */
const fromCents = (c: number): Decimal => new Dec(`${c}e-2`);

/**
 * Cents as the two-decimal string formatMoney gives ("1234.05"), exactly:
 * `c - c % 100` is a multiple of 100, so its division by 100 is exact for
 * every safe integer.
 */
function show(c: number): string {
  if (c < 0) return `-${show(-c)}`;
  const r = c % 100;
  return `${(c - r) / 100}.${r < 10 ? '0' : ''}${r}`;
}

function safe(c: number, week: number): number {
  if (!Number.isSafeInteger(c)) throw new ProjectionRangeError(week);
  return c;
}

const toCents = (d: Decimal, week: number): number => safe(cents(d).mul(100).toNumber(), week);

interface Rate {
  n: number;
  scale: number;
  bn: bigint;
  bscale: bigint;
  /** Largest balance whose 2 * balance * n + scale stays exact in a number. */
  fastUpTo: number;
}

/** A rate as an exact fraction n / scale. */
function fraction(rate: Decimal): Rate {
  const dp = rate.decimalPlaces();
  const scale = 10 ** dp;
  const n = rate.mul(scale).toNumber();
  return { n, scale, bn: BigInt(n), bscale: BigInt(scale), fastUpTo: Math.floor((Number.MAX_SAFE_INTEGER - scale) / (2 * Math.max(n, 1))) };
}

/** cents(balance * n / scale), rounded half-up, exactly (balances are never negative). */
function gainOf(balance: number, r: Rate): number {
  if (balance > r.fastUpTo) return bigGainOf(balance, r);
  const x = 2 * balance * r.n + r.scale;
  const y = 2 * r.scale;
  let q = Math.floor(x / y);
  const rem = x - q * y;
  if (rem < 0) q -= 1;
  else if (rem >= y) q += 1;
  return q;
}

/** gainOf for balances whose product with the rate would not be exact in a number (kept apart: gainOf stays small enough to inline). */
function bigGainOf(balance: number, r: Rate): number {
  return Number((BigInt(balance) * r.bn * 2n + r.bscale) / (2n * r.bscale));
}

/** A small deterministic PRNG (mulberry32), so a seed always gives the same market years. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function marketYears(years: number, mix: boolean, seed: number): { kind: string; multiplier: Decimal }[] {
  const rnd = prng(seed);
  return Array.from({ length: years }, () => {
    if (!mix) return { kind: 'target', multiplier: new Dec(1) };
    const r = rnd();
    let acc = 0;
    for (const m of MARKET_MIX) {
      acc += m.share;
      if (r < acc) return { kind: m.kind, multiplier: new Dec(m.multiplier) };
    }
    return { kind: 'poor', multiplier: new Dec('0.80') };
  });
}

/** The starting tree of a new portfolio, using the live opening rules; its accounts open at SIMULATED_EPOCH. */
export function freshStart(input: Pick<ProjectionInput, 'initialCapital' | 'template' | 'settings'>): ProjectionStart {
  const template = input.template ?? 'moderate';
  const settings = resolveSettings(defaultSettings(template), input.settings);
  const split = openingSplit(input.initialCapital, template);
  const at = SIMULATED_EPOCH;
  return {
    settings,
    at,
    forksToday: 0,
    units: [{
      key: 'root', parentKey: null, kind: 'root',
      accounts: (['gen', 'rev', 'com'] as const).map((type) => ({ type, balance: split[type], baseBalance: split[type], createdAt: at, lastForkAt: null })),
    }],
  };
}

/*
 * Cohorts. The tree of a long projection holds tens of thousands of forked
 * units but far fewer different ones: a Gen-Acc that forks returns to its
 * base, so it makes every child from about the same surplus, and units
 * created in the same week with the same amounts evolve identically (a weekly
 * return depends on the balance alone). The projection therefore simulates
 * cohorts: the units of one kind and creation week whose every amount (the
 * balance and base of each account) is equal, evolved once and counted once
 * per member. What a decision reads of one unit alone stays with the unit
 * (its Member): its identity and parent (merge targets, the order of equal
 * candidates) and its Gen-Acc's clock (opened, last fork, wake day), which
 * the fork rule reads member by member. A member whose amounts change alone
 * (it forks, or a merge credits it) leaves its cohort for the cohort of the
 * members changed the same way that week. The results are those of
 * simulating every unit on its own, to the cent and fork by fork
 * (test/unit/projection-cohorts.test.ts compares the two).
 */

/**
 * What the units of one cohort share: their kind, creation week and every
 * amount. Amounts are exact integer cents held in JavaScript numbers (exact
 * up to MAX_EXACT_CENTS; beyond that the projection stops with
 * ProjectionRangeError rather than lose a cent). A unit holds at most one
 * account of each type (as the ledger does); an account it does not hold
 * stays 0.00 (a zero balance earns nothing), so the weekly loops need not ask.
 */
interface CohortState {
  kind: 'root' | 'forked';
  /** The portfolio's root unit: alone in its cohort, its balances reported by account type. */
  isRoot: boolean;
  /** The week the units were created (0: they were in the starting tree). */
  createdWeek: number;
  /** Its Gen-Acc never forks (the "without this fork" side of a predicted impact). */
  noFork: boolean;
  hasGen: boolean;
  hasCom: boolean;
  genBalance: number;
  genBase: number;
  revBalance: number;
  revBase: number;
  comBalance: number;
  comBase: number;
}

/** A class, not object literals: every cohort has the same shape, which keeps the weekly loops fast. */
class Cohort implements CohortState {
  private static made = 0;
  readonly kind: 'root' | 'forked';
  readonly isRoot: boolean;
  readonly createdWeek: number;
  readonly noFork: boolean;
  readonly hasGen: boolean;
  readonly hasCom: boolean;
  // Every amount starts as a non-integer, overwritten at once by the constructor: the engine then holds these
  // fields as doubles in every cohort from the first. Started as small integers, a balance that outgrows 2^30
  // cents would change the layout of every cohort and throw away the compiled weekly loops, again and again.
  genBalance = 0.5;
  genBase = 0.5;
  revBalance = 0.5;
  revBase = 0.5;
  comBalance = 0.5;
  comBase = 0.5;
  /** Its units, by ascending id. */
  members: Member[] = [];
  /** At or below every member's wakeDay (recomputed from the members when `wakeStale`). */
  wakeMin = Infinity;
  wakeStale = false;
  /** This week's sum of its accounts (the cents of one unit). */
  total = 0.5;
  /** This week's surplus of its Gen-Acc: the order in which Gen-Accs are offered to the fork rule. */
  rank = 0.5;
  /** Creation order of cohorts: breaks ties in the weekly orders (tied cohorts are then taken together). */
  readonly seq = Cohort.made++;
  /** Its Gen-Acc's balance and base as Decimals, made once a week for the fork rule. */
  private decimals: { week: number; balance: Decimal; base: Decimal } | null = null;

  constructor(s: CohortState) {
    this.kind = s.kind;
    this.isRoot = s.isRoot;
    this.createdWeek = s.createdWeek;
    this.noFork = s.noFork;
    this.hasGen = s.hasGen;
    this.hasCom = s.hasCom;
    this.genBalance = s.genBalance;
    this.genBase = s.genBase;
    this.revBalance = s.revBalance;
    this.revBase = s.revBase;
    this.comBalance = s.comBalance;
    this.comBase = s.comBase;
  }

  /** Its state with `changes` applied: where a member that changes alone goes. */
  with(changes: Partial<CohortState>): CohortState {
    const { kind, isRoot, createdWeek, noFork, hasGen, hasCom, genBalance, genBase, revBalance, revBase, comBalance, comBase } = this;
    return { kind, isRoot, createdWeek, noFork, hasGen, hasCom, genBalance, genBase, revBalance, revBase, comBalance, comBase, ...changes };
  }

  /** Its Gen-Acc's balance and base as the fork rule reads them (they change only between weeks). */
  genDecimals(week: number): { balance: Decimal; base: Decimal } {
    if (this.decimals?.week !== week) this.decimals = { week, balance: fromCents(this.genBalance), base: fromCents(this.genBase) };
    return this.decimals;
  }
}

interface Member {
  /** Creation order: equal candidates of the fork and merge rankings are taken oldest first. */
  id: number;
  key: string;
  parent: Member | null;
  cohort: Cohort;
  active: boolean;
  /** Its Gen-Acc's clock, in epoch milliseconds as the fork rule reads them. */
  createdAt: number;
  lastForkAt: number | null;
  /** The first simulated day the fork rule may accept its Gen-Acc by its own clock (age, cooling). */
  wakeDay: number;
  /** The week its Gen-Acc last forked (it has no surplus left until the next week's returns). */
  forkedWeek: number;
}

/** Everything units must share to be one cohort. */
const cohortKey = (c: CohortState): string =>
  [c.kind, c.isRoot, c.createdWeek, c.noFork, c.hasGen, c.hasCom, c.genBalance, c.genBase, c.revBalance, c.revBase, c.comBalance, c.comBase].join('|');

/**
 * The cohorts members move into during one step of a week, by a key that
 * says how they changed: members that changed the same way land in the same
 * cohort. A new cohort holds only members that moved this week.
 */
class Landing<K> {
  private readonly byKey = new Map<K, Cohort>();

  /** Moves `m` into the cohort of `key`, made with `state()` on first use. */
  move(m: Member, key: K, state: () => CohortState): void {
    let c = this.byKey.get(key);
    if (!c) this.byKey.set(key, (c = new Cohort(state())));
    c.members.push(m);
    c.wakeMin = Math.min(c.wakeMin, m.wakeDay);
    m.cohort = c;
  }

  /** The cohorts made, their members in id order. */
  cohorts(): Cohort[] {
    const made = [...this.byKey.values()];
    for (const c of made) {
      if (c.members.some((m, i) => i > 0 && m.id < c.members[i - 1]!.id)) c.members.sort((x, y) => x.id - y.id);
    }
    return made;
  }
}

/** A binary heap over `items` (taken over, not copied), ordered by `before`: built in O(n), each pop in O(log n). */
class Heap<T> {
  constructor(
    private readonly items: T[],
    private readonly before: (x: T, y: T) => boolean,
  ) {
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      h[0] = last!;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const h = this.items;
    for (;;) {
      const l = 2 * i + 1;
      let m = i;
      if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
      if (l + 1 < h.length && this.before(h[l + 1]!, h[m]!)) m = l + 1;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** The members of tied cohorts, in id order (each cohort's members already are). */
const membersInIdOrder = (tied: Cohort[]): Member[] => (tied.length === 1 ? tied[0]!.members : tied.flatMap((c) => c.members).sort((x, y) => x.id - y.id));

/**
 * Cohorts in an order, first ones first. A week usually needs only the first
 * few of thousands, so while every cohort is offered once, only the first
 * `keep` are kept in order (insertion into a short array); a week that needs
 * more orders the rest with a heap. `before` must be a strict total order.
 * One instance serves every week (reset), so no week allocates a list of
 * every cohort.
 */
class InOrder {
  /** Every cohort offered this week: the first `count` slots (kept between weeks, not reallocated). */
  private readonly offered: Cohort[] = [];
  private count = 0;
  private readonly kept: Cohort[] = [];
  private next = 0;
  private rest: Heap<Cohort> | null = null;

  constructor(
    private readonly keep: number,
    private readonly before: (x: Cohort, y: Cohort) => boolean,
  ) {}

  reset(): void {
    this.count = 0;
    this.kept.length = 0;
    this.next = 0;
    this.rest = null;
  }

  offer(c: Cohort): void {
    this.offered[this.count++] = c;
    const kept = this.kept;
    if (kept.length === this.keep) {
      if (!this.before(c, kept[kept.length - 1]!)) return;
      kept.pop();
    }
    let i = kept.length;
    kept.push(c);
    for (; i > 0 && this.before(c, kept[i - 1]!); i--) kept[i] = kept[i - 1]!;
    kept[i] = c;
  }

  peek(): Cohort | undefined {
    if (this.next < this.kept.length) return this.kept[this.next];
    if (this.count === this.kept.length) return undefined;
    if (!this.rest) {
      // Everything after the last one kept.
      const last = this.kept[this.kept.length - 1]!;
      const rest: Cohort[] = [];
      for (let i = 0; i < this.count; i++) if (this.before(last, this.offered[i]!)) rest.push(this.offered[i]!);
      this.rest = new Heap(rest, this.before);
    }
    return this.rest.peek();
  }

  take(): Cohort | undefined {
    const c = this.peek();
    if (c && this.rest) this.rest.pop();
    else if (c) this.next++;
    return c;
  }
}

/** Larger surplus first (the cohort's creation order only makes the order total: tied cohorts are taken together). */
const surplusBefore = (x: Cohort, y: Cohort): boolean => x.rank > y.rank || (x.rank === y.rank && x.seq < y.seq);

/**
 * The week's Gen-Accs in fork order: cohorts by surplus, larger first, and
 * the members of cohorts with equal surplus in id order, exactly as if every
 * unit were ranked on its own (larger surplus first, then the older unit).
 */
class Ranking {
  private readonly groups: Member[][] = [];

  constructor(private readonly gens: InOrder) {}

  /** The i-th group of members with equal surplus, in the order they are offered. */
  group(i: number): Member[] | undefined {
    while (this.groups.length <= i) {
      const first = this.gens.take();
      if (!first) break;
      const tied = [first];
      while (this.gens.peek()?.rank === first.rank) tied.push(this.gens.take()!);
      this.groups.push(membersInIdOrder(tied));
    }
    return this.groups[i];
  }
}

/** A member's Gen-Acc as the fork rule reads it. */
function candidateOf(m: Member, week: number): ForkCandidate {
  const { balance, base } = m.cohort.genDecimals(week);
  // Every simulated account is active: an operation in flight at the start has finished by the time it matters.
  return {
    type: 'gen', status: 'active', balance, baseBalance: base,
    createdAt: new Date(m.createdAt), lastForkAt: m.lastForkAt === null ? null : new Date(m.lastForkAt),
  };
}

/** The earliest instant a Date holds: an account this old, never forked, has nothing left to wait for. */
const LONG_AGO = new Date(-8.64e15);

/**
 * The fork decisions of a projection, all made by the live rule
 * forkEligibility at simulated instants. Nothing here knows the rule's
 * thresholds or limits; to stay fast it relies on two properties of it:
 * a larger surplus is never less eligible, and neither is an older account or
 * a longer time since its last fork (time only ever ends a wait).
 */
class ForkDays {
  private forks = 0;

  constructor(
    private readonly s: PortfolioSettings,
    private readonly atMs: number,
    /** The last simulated day of the projection (days count from 0 at `atMs`). */
    private readonly lastDay: number,
    private readonly startForksToday: number,
    private readonly opts: Pick<ProjectionOptions, 'onFork' | 'exhaustive'>,
  ) {}

  /**
   * One week's forks. Returns are credited once a week, so the week's forks
   * are decided over its 7 simulated days (day d at start + 7 * (week - 1) + d
   * days), each with its own forks-per-day count: the live scan runs every few
   * minutes and may start maxForksPerDay forks each calendar day, 7 times that
   * a week. Each simulated day is a separate calendar day in any time zone, so
   * settings.timezone changes nothing here (it only decides which of the
   * portfolio's real forks count as "today" at the start). Each day offers the
   * Gen-Accs to the rule largest surplus first, until the rule refuses even an
   * ideal account with the next surplus (the day's limit or the threshold).
   */
  week(week: number, ranking: Ranking, fork: (m: Member, c: ForkCandidate, at: Date) => { unitKey: string; amount: string }): void {
    for (let d = 0; d < DAYS_PER_WEEK; d++) {
      const day = DAYS_PER_WEEK * (week - 1) + d;
      const now = new Date(this.atMs + day * DAY_MS);
      let forksToday = day === 0 ? this.startForksToday : 0;
      days: for (let g = 0; ; g++) {
        const group = ranking.group(g);
        if (!group) break;
        for (const m of group) {
          // A fork takes the whole surplus (what the parent retains joins its base), so a Gen-Acc that forked
          // this week has nothing to fork until the next week's returns.
          if (m.forkedWeek === week || m.wakeDay > day) continue;
          const c = candidateOf(m, week);
          const ctx = { now, forksToday };
          if (forkEligibility(c, this.s, ctx).eligible) {
            const { unitKey, amount } = fork(m, c, now);
            m.forkedWeek = week;
            this.opts.onFork?.({ week, day: d, at: now, forksToday, parentKey: m.key, unitKey, candidate: c, amount });
            forksToday++;
            continue;
          }
          if (this.opts.exhaustive) continue;
          if (!forkEligibility({ ...c, createdAt: LONG_AGO, lastForkAt: null }, this.s, ctx).eligible) break days;
          // Refused only for its own clock (age or cooling): skip it until the day that ends.
          m.wakeDay = this.wakeDay(c, day);
          m.cohort.wakeStale = true;
        }
      }
    }
  }

  /**
   * The first day after `day` on which the rule accepts `c` by its own clock,
   * the day's limit left aside (forksToday 0): an exponential, then a binary
   * search over days, O(log days) calls. Its surplus only grows while it
   * waits, so waking it earlier could never let it fork sooner.
   */
  private wakeDay(c: ForkCandidate, day: number): number {
    const ok = (d: number) => forkEligibility(c, this.s, { now: new Date(this.atMs + d * DAY_MS), forksToday: 0 }).eligible;
    let lo = day;
    let hi = day + 1;
    for (let step = 1; !ok(hi); step *= 2) {
      if (hi >= this.lastDay) return Infinity;
      lo = hi;
      hi = Math.min(day + step * 2, this.lastDay);
    }
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (ok(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  nextUnitKey(): string {
    return `fork-${++this.forks}`;
  }
}

/** The starting tree as cohorts: the root alone, other units with equal amounts together. */
function startCohorts(start: ProjectionStart): { cohorts: Cohort[]; root: Member; nextId: number } {
  if (start.units.length === 0) throw new Error('a projection starts from at least one unit');
  const byKey = new Map<string, Member>();
  const rootIndex = Math.max(0, start.units.findIndex((u) => u.kind === 'root'));
  const landing = new Landing<string>();
  start.units.forEach((u, id) => {
    const accounts: Partial<Record<'gen' | 'rev' | 'com', StartAccount>> = {};
    for (const a of u.accounts) {
      if (accounts[a.type]) throw new Error(`unit ${u.key} has two ${a.type} accounts; a unit holds at most one of each type`);
      accounts[a.type] = a;
    }
    const { gen, rev, com } = accounts;
    const state: CohortState = {
      kind: u.kind, isRoot: id === rootIndex, createdWeek: 0, noFork: gen?.noFork ?? false, hasGen: !!gen, hasCom: !!com,
      genBalance: gen ? toCents(gen.balance, 0) : 0, genBase: gen ? toCents(gen.baseBalance, 0) : 0,
      revBalance: rev ? toCents(rev.balance, 0) : 0, revBase: rev ? toCents(rev.baseBalance, 0) : 0,
      comBalance: com ? toCents(com.balance, 0) : 0, comBase: com ? toCents(com.baseBalance, 0) : 0,
    };
    const m: Member = {
      id, key: u.key, parent: u.parentKey ? byKey.get(u.parentKey) ?? null : null, cohort: undefined as unknown as Cohort, active: true,
      createdAt: gen?.createdAt.getTime() ?? 0, lastForkAt: gen?.lastForkAt?.getTime() ?? null, wakeDay: 0, forkedWeek: 0,
    };
    landing.move(m, cohortKey(state), () => state);
    byKey.set(u.key, m);
  });
  return { cohorts: landing.cohorts(), root: byKey.get(start.units[rootIndex]!.key)!, nextId: start.units.length };
}

/** A fork's amounts in cents, as forkPlan splits a surplus. */
interface PlanCents {
  forkAmount: number;
  retained: number;
  childGen: number;
  childCom: number;
  /** forkAmount as the result reports it. */
  amount: string;
}

/** One year's weekly rates, as exact fractions. */
interface Rates {
  gen: Rate;
  rev: Rate;
  com: Rate;
}

/**
 * Whether the cohort's Gen-Accs are offered to the fork rule this week (and
 * its surplus, the order they are offered in): not when every member of it
 * may fork only after the week's last day.
 */
function mayFork(c: Cohort, lastDayOfWeek: number): boolean {
  if (!c.hasGen || c.noFork) return false;
  if (c.wakeStale) {
    c.wakeMin = c.members.reduce((min, m) => Math.min(min, m.wakeDay), Infinity);
    c.wakeStale = false;
  }
  c.rank = c.genBalance - c.genBase;
  return c.wakeMin <= lastDayOfWeek;
}

/**
 * Drops the cohorts left without members, credits the week's returns to the
 * others, and offers the cohorts that may merge (`over`) or fork (`gens`)
 * this week. Returns the week's income (the Rev-Accs' returns) in cents.
 * Small on purpose, like the other weekly loops: the engine optimises (and
 * re-optimises, as balances outgrow small integers) a small function quickly.
 */
function creditReturns(cohorts: Cohort[], rates: Rates, week: number, mergeThreshold: number, over: InOrder, gens: InOrder): number {
  const lastDayOfWeek = DAYS_PER_WEEK * week - 1;
  let income = 0;
  let kept = 0;
  for (const c of cohorts) {
    if (c.members.length === 0) continue;
    cohorts[kept++] = c;
    c.genBalance = safe(c.genBalance + gainOf(c.genBalance, rates.gen), week);
    if (c.revBalance !== 0) {
      const gain = gainOf(c.revBalance, rates.rev);
      c.revBalance = safe(c.revBalance + gain, week);
      income += gain * c.members.length;
    }
    c.comBalance = safe(c.comBalance + gainOf(c.comBalance, rates.com), week);
    c.total = c.genBalance + c.revBalance + c.comBalance;
    if (c.kind === 'forked' && c.createdWeek < week && c.total >= mergeThreshold) over.offer(c);
    if (mayFork(c, lastDayOfWeek)) gens.offer(c);
  }
  cohorts.length = kept;
  return income;
}

/** The week's balances: the root unit's by account type, every other unit's together, in cents; and the forked units. */
function totalsOf(cohorts: Cohort[]): { gen: number; rev: number; com: number; forked: number; activeForked: number } {
  let gen = 0;
  let rev = 0;
  let com = 0;
  let forked = 0;
  let activeForked = 0;
  for (const c of cohorts) {
    const n = c.members.length;
    if (n === 0) continue;
    if (c.isRoot) {
      gen += c.genBalance;
      rev += c.revBalance;
      com += c.comBalance;
    } else {
      forked += (c.genBalance + c.revBalance + c.comBalance) * n;
    }
    if (c.kind === 'forked') activeForked += n;
  }
  return { gen, rev, com, forked, activeForked };
}

/**
 * One week's forks as cohorts: each forking member leaves its cohort for the
 * cohort of the members of that cohort that forked the same week (one
 * cohort forks one surplus a week: they change alike), and each child joins
 * the week's children of an equal surplus (forkPlan depends on the surplus
 * alone, so they are alike).
 */
class ForkingWeek {
  private readonly parents = new Landing<Cohort>();
  private readonly children = new Landing<number>();
  private readonly sources = new Set<Cohort>();

  constructor(private readonly week: number) {}

  fork(m: Member, child: Member, surplus: number, plan: PlanCents, at: Date): void {
    const from = m.cohort;
    m.lastForkAt = at.getTime();
    this.sources.add(from);
    this.parents.move(m, from, () => from.with({ genBalance: from.genBalance - plan.forkAmount, genBase: from.genBase + plan.retained }));
    this.children.move(child, surplus, () => ({
      kind: 'forked', isRoot: false, createdWeek: this.week, noFork: false, hasGen: true, hasCom: true,
      genBalance: plan.childGen, genBase: plan.childGen, revBalance: 0, revBase: 0, comBalance: plan.childCom, comBase: plan.childCom,
    }));
  }

  /** The week's new cohorts; the cohorts forks left keep only their members that did not fork. */
  settle(): Cohort[] {
    for (const from of this.sources) from.members = from.members.filter((m) => m.cohort === from);
    return [...this.parents.cohorts(), ...this.children.cohorts()];
  }
}

/**
 * docs/domain.md section 7: a deterministic week-by-week projection with the live
 * rules (fork eligibility and plan, merge ranking, the opening split) on a
 * simulated calendar that starts at `start.at`. Each week: returns on balance
 * less buffer are credited (rounded to the cent) at its first instant, then
 * eligible units merge, then Gen-Accs fork on the week's 7 simulated days as
 * forkEligibility allows (see ForkDays.week). Merges still turn their cooling
 * period and per-scan limit into a weekly cap. Units are simulated in cohorts
 * (see Cohort above).
 */
export function project(start: ProjectionStart, opts: ProjectionOptions): ProjectionResult {
  const s = start.settings;
  const keep = new Dec(1).minus(s.bufferPct);
  // No unit total ever passes MAX_EXACT_AMOUNT (the run stops first), so a higher threshold means "never".
  const mergeThreshold = new Dec(s.mergeThreshold).gt(MAX_EXACT_AMOUNT) ? Infinity : toCents(new Dec(s.mergeThreshold), 0);
  const mergesPerWeek = Math.min(s.maxMergesPerScan * 7, s.mergeCoolingHours > 0 ? Math.max(1, Math.floor(168 / s.mergeCoolingHours)) : s.maxMergesPerScan * 7);
  const days = new ForkDays(s, start.at.getTime(), opts.years * WEEKS_PER_YEAR * DAYS_PER_WEEK - 1, start.forksToday ?? 0, opts);
  const tree = startCohorts(start);
  const cohorts = tree.cohorts;
  let nextId = tree.nextId;
  const market = marketYears(opts.years, opts.marketMix ?? false, opts.seed ?? 1).map((y) => ({
    kind: y.kind,
    rates: {
      gen: fraction(keep.mul(s.weeklyReturns.gen).mul(y.multiplier)),
      rev: fraction(keep.mul(s.weeklyReturns.rev).mul(y.multiplier)),
      com: fraction(keep.mul(s.weeklyReturns.com).mul(y.multiplier)),
    },
  }));
  // forkPlan depends on the surplus alone (the settings are fixed), and the same surpluses recur: a Gen-Acc
  // that forks returns to its base, and units with equal bases grow equal surpluses.
  const plans = new Map<number, PlanCents>();
  const planOf = (surplusCents: number, c: ForkCandidate, week: number): PlanCents => {
    let plan = plans.get(surplusCents);
    if (!plan) {
      const p = forkPlan(c.balance.minus(c.baseBalance), s);
      const [forkAmount, retained, childGen, childCom] = [p.forkAmount, p.retained, p.childGen, p.childCom].map((d) => toCents(d, week)) as [number, number, number, number];
      plans.set(surplusCents, (plan = { forkAmount, retained, childGen, childCom, amount: show(forkAmount) }));
    }
    return plan;
  };
  const result: ProjectionResult = { years: [], weeks: [], forks: [], merges: [] };
  let yearStats = { income: 0, created: 0, forks: 0, merges: 0 };
  // A day looks at a few cohorts past its forks; a week's merges at `mergesPerWeek` units.
  const gens = new InOrder(64, surplusBefore);
  const over = new InOrder(Math.min(mergesPerWeek, 256) + 1, mergesBefore);

  for (let week = 1; week <= opts.years * WEEKS_PER_YEAR; week++) {
    const year = Math.ceil(week / WEEKS_PER_YEAR);
    // Returns, and who may merge or fork this week (a merge changes no Gen-Acc: the fork ranking holds).
    gens.reset();
    over.reset();
    yearStats.income += creditReturns(cohorts, market[year - 1]!.rates, week, mergeThreshold, over, gens);

    const merged = mergeWeek(week, over, mergesPerWeek, s, tree.root);
    for (const amount of merged.moved) {
      result.merges.push({ week, amount: show(amount) });
      yearStats.merges++;
    }
    for (const c of merged.landed) {
      cohorts.push(c);
      if (mayFork(c, DAYS_PER_WEEK * week - 1)) gens.offer(c);
    }

    const forking = new ForkingWeek(week);
    days.week(week, new Ranking(gens), (m, c, at) => {
      const surplus = m.cohort.genBalance - m.cohort.genBase;
      const plan = planOf(surplus, c, week);
      const child: Member = {
        id: nextId++, key: days.nextUnitKey(), parent: m, cohort: undefined as unknown as Cohort, active: true,
        createdAt: at.getTime(), lastForkAt: null, wakeDay: 0, forkedWeek: 0,
      };
      forking.fork(m, child, surplus, plan, at);
      result.forks.push({ week, amount: plan.amount });
      yearStats.forks++;
      yearStats.created++;
      return { unitKey: child.key, amount: plan.amount };
    });
    cohorts.push(...forking.settle());

    const totals = totalsOf(cohorts);
    // Every balance is non-negative, so a total within range means every partial sum and product was exact too.
    const total = safe(totals.gen + totals.rev + totals.com + totals.forked, week);
    result.weeks.push({
      week, total: show(total), gen: show(totals.gen), rev: show(totals.rev), com: show(totals.com),
      forked: show(totals.forked), activeForkedUnits: totals.activeForked,
    });
    if (week % WEEKS_PER_YEAR === 0) {
      result.years.push({
        year, marketYear: market[year - 1]!.kind, total: show(total),
        byType: { gen: show(totals.gen), rev: show(totals.rev), com: show(totals.com), forked: show(totals.forked) },
        income: show(yearStats.income), activeForkedUnits: totals.activeForked, forkedUnitsCreated: yearStats.created,
        forks: yearStats.forks, merges: yearStats.merges,
      });
      yearStats = { income: 0, created: 0, forks: 0, merges: 0 };
    }
  }
  return result;
}

/**
 * Larger total first, then the earlier creation week: the merge ranking's own
 * order (the cohort's creation order only makes it total: tied cohorts are
 * taken together, their members oldest first).
 */
const mergesBefore = (x: Cohort, y: Cohort): boolean =>
  x.total > y.total || (x.total === y.total && (x.createdWeek < y.createdWeek || (x.createdWeek === y.createdWeek && x.seq < y.seq)));

/**
 * One week's merges: the forked units over the threshold, pre-ordered cheaply
 * by the ranking's own keys (total, then creation week, then age), the top
 * `limit` through the live ranking rule. Each merging unit moves everything
 * it holds at its turn to the Com-Acc of its nearest active ancestor (the
 * root when none is): its total when the week's candidates were taken plus
 * what the week's earlier merges credited it, so a unit that merges after its
 * own child passes the child's money on instead of losing it. Merged members
 * leave their cohorts; a credited member leaves its cohort for one of the
 * members credited alike, unless every member of its cohort receives the
 * same. Returns the amounts the merges moved, in order, and the cohorts
 * credited members moved into.
 */
function mergeWeek(week: number, over: InOrder, limit: number, s: PortfolioSettings, root: Member): { moved: number[]; landed: Cohort[] } {
  const picked: Member[] = [];
  while (picked.length < limit && over.peek()) {
    const first = over.take()!;
    const tied = [first];
    while (over.peek()?.total === first.total && over.peek()!.createdWeek === first.createdWeek) tied.push(over.take()!);
    for (const m of membersInIdOrder(tied)) {
      if (picked.length === limit) break;
      picked.push(m);
    }
  }
  const candidates = picked.map((m) => ({
    member: m, cents: m.cohort.total, unitId: String(m.id), kind: m.cohort.kind, status: 'active',
    total: fromCents(m.cohort.total), createdAt: new Date(m.cohort.createdWeek * 7 * DAY_MS),
  }));
  const merged = rankMergeCandidates(candidates, { ...s, maxMergesPerScan: limit });
  // Credits are summed per target and applied to its cohort after the week's merges. A target that merges
  // later in the same week takes its credits along (they leave the map), so every credit left is an active unit's.
  const credits = new Map<Member, number>();
  const moved: number[] = [];
  const left = new Set<Cohort>();
  for (const c of merged) {
    const amount = safe(c.cents + (credits.get(c.member) ?? 0), week);
    credits.delete(c.member);
    let target = c.member.parent;
    while (target && !target.active) target = target.parent;
    target ??= root;
    if (!target.cohort.hasCom) throw new Error(`unit ${target.key} receives a merge but has no Com-Acc`);
    credits.set(target, (credits.get(target) ?? 0) + amount);
    moved.push(amount);
    c.member.active = false;
    left.add(c.member.cohort);
  }
  const credited = new Map<Cohort, Member[]>();
  for (const [m, credit] of credits) {
    safe(m.cohort.comBalance + credit, week);
    safe(m.cohort.comBase + credit, week);
    credited.set(m.cohort, [...(credited.get(m.cohort) ?? []), m]);
  }
  const landing = new Landing<string>();
  for (const [c, members] of credited) {
    const credit = credits.get(members[0]!)!;
    if (members.every((m) => credits.get(m) === credit) && members.length === c.members.filter((m) => m.active).length) {
      // Every unit of the cohort receives the same: it stays one cohort.
      c.comBalance += credit;
      c.comBase += credit;
      continue;
    }
    for (const m of members) {
      const state = c.with({ comBalance: c.comBalance + credits.get(m)!, comBase: c.comBase + credits.get(m)! });
      landing.move(m, cohortKey(state), () => state);
    }
    left.add(c);
  }
  for (const c of left) c.members = c.members.filter((m) => m.active && m.cohort === c);
  return { moved, landed: landing.cohorts() };
}

/** Weekly rows as CSV (for spreadsheets and charts). */
export function projectionCsv(r: ProjectionResult): string {
  const header = 'week,year,total,gen,rev,com,forked,active_forked_units';
  const rows = r.weeks.map((w) => [w.week, Math.ceil(w.week / WEEKS_PER_YEAR), w.total, w.gen, w.rev, w.com, w.forked, w.activeForkedUnits].join(','));
  return [header, ...rows].join('\n') + '\n';
}
