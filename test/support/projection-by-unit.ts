/**
 * The unit-by-unit projection: src/domain/projection.ts's `project` as it was
 * before it simulated cohorts (commit 7dedf5c), kept as the reference the
 * cohort simulation must agree with to the cent
 * (test/unit/projection-cohorts.test.ts). Every forked unit is simulated on
 * its own, so it is slow on large trees (about 10 s for 30 years of
 * $300,000): tests use it on small and medium ones.
 *
 * It is that code verbatim but for one fix, made in both simulations at once:
 * a unit that merges after a merge of the same week credited it moves
 * everything it holds, that credit included. Before the fix it moved only the
 * total it had when the week's candidates were taken, and the credit (its own
 * child's money) disappeared (test/unit/projection-merges.test.ts).
 */
import type Decimal from 'decimal.js';
import { type ForkCandidate, forkEligibility, forkPlan } from '../../src/domain/fork';
import { rankMergeCandidates } from '../../src/domain/merge';
import { Dec, cents, formatMoney } from '../../src/domain/money';
import {
  MARKET_MIX, MAX_EXACT_AMOUNT, type ProjectionOptions, type ProjectionResult, type ProjectionStart, ProjectionRangeError, WEEKS_PER_YEAR,
} from '../../src/domain/projection';
import type { PortfolioSettings } from '../../src/domain/settings';

const DAYS_PER_WEEK = 7;
const DAY_MS = 86_400_000;

/**
 * Balances in the weekly loop are exact integer cents held in JavaScript
 * numbers (exact up to MAX_EXACT_CENTS; beyond that the projection stops with
 * ProjectionRangeError rather than lose a cent). The weekly gain is an exact
 * integer division, done in BigInt when the product would not fit.
 */
interface Acct {
  type: 'gen' | 'rev' | 'com';
  balance: number;
  base: number;
  unit: Unit;
  noFork?: boolean;
  /** Epoch milliseconds, as the fork rule reads them. */
  createdAt: number;
  lastForkAt: number | null;
  /** This week's surplus in cents: the order in which Gen-Accs are offered to the fork rule. */
  rank: number;
  /** The first simulated day the fork rule may accept this account by its own clock (age, cooling). */
  wakeDay: number;
  /** The week it last forked (it has no surplus left until the next week's returns). */
  forkedWeek: number;
}

const fromCents = (c: number): Decimal => new Dec(c).div(100);
const show = (c: number): string => formatMoney(fromCents(c));

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
  if (balance > r.fastUpTo) return Number((BigInt(balance) * r.bn * 2n + r.bscale) / (2n * r.bscale));
  const x = 2 * balance * r.n + r.scale;
  const y = 2 * r.scale;
  let q = Math.floor(x / y);
  const rem = x - q * y;
  if (rem < 0) q -= 1;
  else if (rem >= y) q += 1;
  return q;
}
interface Unit {
  id: number;
  key: string;
  kind: 'root' | 'forked';
  parent: Unit | null;
  active: boolean;
  createdWeek: number;
  accounts: Acct[];
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

/** Larger surplus first; on a tie the older unit (the order the weekly sort always had). */
const before = (x: Acct, y: Acct): boolean => x.rank > y.rank || (x.rank === y.rank && x.unit.id < y.unit.id);

/**
 * The week's Gen-Accs in fork order, sorted lazily with a binary heap: a week
 * usually looks at only the first few dozen of thousands, so a full sort of
 * every Gen-Acc every week would be mostly wasted.
 */
class Ranking {
  private readonly ranked: Acct[] = [];

  constructor(private readonly heap: Acct[]) {
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  at(i: number): Acct | undefined {
    while (this.ranked.length <= i && this.heap.length > 0) this.ranked.push(this.pop());
    return this.ranked[i];
  }

  private pop(): Acct {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (l + 1 < h.length && before(h[l + 1]!, h[m]!)) m = l + 1;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function candidateOf(a: Acct): ForkCandidate {
  // Every simulated account is active: an operation in flight at the start has finished by the time it matters.
  return {
    type: a.type, status: 'active', balance: fromCents(a.balance), baseBalance: fromCents(a.base),
    createdAt: new Date(a.createdAt), lastForkAt: a.lastForkAt === null ? null : new Date(a.lastForkAt),
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
  week(week: number, gens: Acct[], fork: (gen: Acct, c: ForkCandidate, at: Date) => { unitKey: string; amount: string }): void {
    const ranking = new Ranking(gens);
    for (let d = 0; d < DAYS_PER_WEEK; d++) {
      const day = DAYS_PER_WEEK * (week - 1) + d;
      const now = new Date(this.atMs + day * DAY_MS);
      let forksToday = day === 0 ? this.startForksToday : 0;
      for (let i = 0; ; i++) {
        const a = ranking.at(i);
        if (!a) break;
        // A fork takes the whole surplus (what the parent retains joins its base), so a Gen-Acc that forked
        // this week has nothing to fork until the next week's returns.
        if (a.forkedWeek === week || a.wakeDay > day) continue;
        const c = candidateOf(a);
        const ctx = { now, forksToday };
        if (forkEligibility(c, this.s, ctx).eligible) {
          const { unitKey, amount } = fork(a, c, now);
          a.forkedWeek = week;
          this.opts.onFork?.({ week, day: d, at: now, forksToday, parentKey: a.unit.key, unitKey, candidate: c, amount });
          forksToday++;
          continue;
        }
        if (this.opts.exhaustive) continue;
        if (!forkEligibility({ ...c, createdAt: LONG_AGO, lastForkAt: null }, this.s, ctx).eligible) break;
        // Refused only for its own clock (age or cooling): skip it until the day that ends.
        a.wakeDay = this.wakeDay(c, day);
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

/**
 * docs/domain.md section 7: a deterministic week-by-week projection with the live
 * rules (fork eligibility and plan, merge ranking, the opening split) on a
 * simulated calendar that starts at `start.at`. Each week: returns on balance
 * less buffer are credited (rounded to the cent) at its first instant, then
 * eligible units merge, then Gen-Accs fork on the week's 7 simulated days as
 * forkEligibility allows (see ForkDays.week). Merges still turn their cooling
 * period and per-scan limit into a weekly cap.
 */
export function projectByUnit(start: ProjectionStart, opts: ProjectionOptions): ProjectionResult {
  const s = start.settings;
  const keep = new Dec(1).minus(s.bufferPct);
  // No unit total ever passes MAX_EXACT_AMOUNT (the run stops first), so a higher threshold means "never".
  const mergeThreshold = new Dec(s.mergeThreshold).gt(MAX_EXACT_AMOUNT) ? Infinity : toCents(new Dec(s.mergeThreshold), 0);
  const mergesPerWeek = Math.min(s.maxMergesPerScan * 7, s.mergeCoolingHours > 0 ? Math.max(1, Math.floor(168 / s.mergeCoolingHours)) : s.maxMergesPerScan * 7);
  const days = new ForkDays(s, start.at.getTime(), opts.years * WEEKS_PER_YEAR * DAYS_PER_WEEK - 1, start.forksToday ?? 0, opts);

  let nextId = 0;
  const byKey = new Map<string, Unit>();
  const units: Unit[] = [];
  for (const u of start.units) {
    const unit: Unit = { id: nextId++, key: u.key, kind: u.kind, parent: u.parentKey ? byKey.get(u.parentKey) ?? null : null, active: true, createdWeek: 0, accounts: [] };
    unit.accounts = u.accounts.map((a) => ({
      type: a.type, balance: toCents(a.balance, 0), base: toCents(a.baseBalance, 0), unit, noFork: a.noFork,
      createdAt: a.createdAt.getTime(), lastForkAt: a.lastForkAt?.getTime() ?? null, rank: 0, wakeDay: 0, forkedWeek: 0,
    }));
    byKey.set(u.key, unit);
    units.push(unit);
  }
  const root = units.find((u) => u.kind === 'root') ?? units[0]!;
  const market = marketYears(opts.years, opts.marketMix ?? false, opts.seed ?? 1).map((y) => ({
    kind: y.kind,
    rates: {
      gen: fraction(keep.mul(s.weeklyReturns.gen).mul(y.multiplier)),
      rev: fraction(keep.mul(s.weeklyReturns.rev).mul(y.multiplier)),
      com: fraction(keep.mul(s.weeklyReturns.com).mul(y.multiplier)),
    },
  }));
  const result: ProjectionResult = { years: [], weeks: [], forks: [], merges: [] };
  let yearStats = { income: 0, created: 0, forks: 0, merges: 0 };
  let active = units.filter((u) => u.active);

  for (let week = 1; week <= opts.years * WEEKS_PER_YEAR; week++) {
    const year = Math.ceil(week / WEEKS_PER_YEAR);
    const rates = market[year - 1]!.rates;
    for (const unit of active) {
      for (const a of unit.accounts) {
        const gain = gainOf(a.balance, rates[a.type]);
        a.balance = safe(a.balance + gain, week);
        if (a.type === 'rev') yearStats.income += gain;
      }
    }

    // Units over the threshold, pre-ordered cheaply by the ranking's own keys (total, then age);
    // the top ones go through the live ranking rule.
    const over = active
      .filter((u) => u.kind === 'forked' && u.createdWeek < week)
      .map((u) => ({ unit: u, cents: u.accounts.reduce((t, a) => t + a.balance, 0) }))
      .filter((c) => c.cents >= mergeThreshold)
      .sort((a, b) => b.cents - a.cents || a.unit.createdWeek - b.unit.createdWeek)
      .slice(0, mergesPerWeek);
    const mergeable = over.map((c) => ({
      ...c, unitId: String(c.unit.id), kind: c.unit.kind, status: 'active', total: fromCents(c.cents), createdAt: new Date(c.unit.createdWeek * 7 * 86_400_000),
    }));
    for (const c of rankMergeCandidates(mergeable, { ...s, maxMergesPerScan: mergesPerWeek })) {
      let target = c.unit.parent;
      while (target && !target.active) target = target.parent;
      const com = (target ?? root).accounts.find((a) => a.type === 'com')!;
      // Everything the unit holds now: its total when ranked plus what this week's earlier merges credited it.
      const moved = safe(c.unit.accounts.reduce((t, a) => t + a.balance, 0), week);
      com.balance = safe(com.balance + moved, week);
      com.base = safe(com.base + moved, week);
      for (const a of c.unit.accounts) a.balance = 0;
      c.unit.active = false;
      // Children re-parent lazily: a merged parent is skipped when a child merges (see `target` above).
      result.merges.push({ week, amount: show(moved) });
      yearStats.merges++;
    }

    const lastDayOfWeek = DAYS_PER_WEEK * week - 1;
    const gens: Acct[] = [];
    for (const u of active) {
      if (!u.active) continue;
      for (const a of u.accounts) {
        if (a.type !== 'gen' || a.noFork || a.wakeDay > lastDayOfWeek) continue;
        a.rank = a.balance - a.base;
        gens.push(a);
      }
    }
    days.week(week, gens, (gen, c, at) => {
      const plan = forkPlan(c.balance.minus(c.baseBalance), s);
      const [forkAmount, retained, childGen, childCom] = [plan.forkAmount, plan.retained, plan.childGen, plan.childCom].map((d) => toCents(d, week)) as [number, number, number, number];
      gen.balance -= forkAmount;
      gen.base += retained;
      gen.lastForkAt = at.getTime();
      const unit: Unit = { id: nextId++, key: days.nextUnitKey(), kind: 'forked', parent: gen.unit, active: true, createdWeek: week, accounts: [] };
      const opened = { createdAt: at.getTime(), lastForkAt: null, rank: 0, wakeDay: 0, forkedWeek: 0 };
      unit.accounts = [
        { type: 'gen', balance: childGen, base: childGen, unit, ...opened },
        { type: 'com', balance: childCom, base: childCom, unit, ...opened },
      ];
      units.push(unit);
      const amount = show(forkAmount);
      result.forks.push({ week, amount });
      yearStats.forks++;
      yearStats.created++;
      return { unitKey: unit.key, amount };
    });
    active = units.filter((u) => u.active);

    const totals = { gen: 0, rev: 0, com: 0, forked: 0 };
    for (const u of active) {
      for (const a of u.accounts) {
        if (u === root) totals[a.type] += a.balance;
        else totals.forked += a.balance;
      }
    }
    // Every balance is non-negative, so a total within range means every partial sum was exact too.
    const total = safe(totals.gen + totals.rev + totals.com + totals.forked, week);
    const activeForked = active.filter((u) => u.kind === 'forked').length;
    result.weeks.push({
      week, total: show(total), gen: show(totals.gen), rev: show(totals.rev), com: show(totals.com),
      forked: show(totals.forked), activeForkedUnits: activeForked,
    });
    if (week % WEEKS_PER_YEAR === 0) {
      result.years.push({
        year, marketYear: market[year - 1]!.kind, total: show(total),
        byType: { gen: show(totals.gen), rev: show(totals.rev), com: show(totals.com), forked: show(totals.forked) },
        income: show(yearStats.income), activeForkedUnits: activeForked, forkedUnitsCreated: yearStats.created,
        forks: yearStats.forks, merges: yearStats.merges,
      });
      yearStats = { income: 0, created: 0, forks: 0, merges: 0 };
    }
  }
  return result;
}
