import type Decimal from 'decimal.js';
import { forkPlan } from './fork';
import { rankMergeCandidates } from './merge';
import { Dec, cents, formatMoney } from './money';
import { openingSplit } from './opening';
import { type PortfolioSettings, type TemplateName, defaultSettings, resolveSettings, type SettingsOverrides } from './settings';

export const WEEKS_PER_YEAR = 52;

/** DOMAIN.md section 2: the market-year mix for projections. */
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

/** Where a projection starts: a fresh portfolio from its capital, or an existing portfolio's tree. */
export interface ProjectionStart {
  settings: PortfolioSettings;
  units: {
    key: string;
    parentKey: string | null;
    kind: 'root' | 'forked';
    /** `noFork`: this Gen-Acc never forks (the "without this fork" side of a predicted impact). */
    accounts: { type: 'gen' | 'rev' | 'com'; balance: Decimal; baseBalance: Decimal; noFork?: boolean }[];
  }[];
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

/**
 * Balances in the weekly loop are exact integer cents held in JavaScript
 * numbers (exact up to 2^53 cents, about $90 trillion; beyond that the
 * projection stops with an error rather than lose a cent). The weekly gain is
 * an exact integer division, done in BigInt when the product would not fit.
 */
interface Acct {
  type: 'gen' | 'rev' | 'com';
  balance: number;
  base: number;
  unit: Unit;
  noFork?: boolean;
}

const toCents = (d: Decimal): number => safe(cents(d).mul(100).toNumber());
const fromCents = (c: number): Decimal => new Dec(c).div(100);
const show = (c: number): string => formatMoney(fromCents(c));

function safe(c: number): number {
  if (!Number.isSafeInteger(c)) throw new RangeError('the projection grew past $90 trillion; shorten it');
  return c;
}

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

/** The starting tree of a new portfolio, using the live opening rules. */
export function freshStart(input: Pick<ProjectionInput, 'initialCapital' | 'template' | 'settings'>): ProjectionStart {
  const template = input.template ?? 'moderate';
  const settings = resolveSettings(defaultSettings(template), input.settings);
  const split = openingSplit(input.initialCapital, template);
  return {
    settings,
    units: [{
      key: 'root', parentKey: null, kind: 'root',
      accounts: (['gen', 'rev', 'com'] as const).map((type) => ({ type, balance: split[type], baseBalance: split[type] })),
    }],
  };
}

/**
 * DOMAIN.md section 7: a deterministic week-by-week projection with the live
 * rules (fork eligibility and plan, merge ranking, the opening split). Each
 * week: returns on balance less buffer are credited (rounded to the cent),
 * then eligible units merge, then eligible Gen-Accs fork. A week is 7 days, so
 * the cooling periods and daily limits become weekly caps.
 */
export function project(start: ProjectionStart, opts: { years: number; marketMix?: boolean; seed?: number }): ProjectionResult {
  const s = start.settings;
  const keep = new Dec(1).minus(s.bufferPct);
  const threshold = toCents(new Dec(s.forkThreshold));
  const mergeThreshold = toCents(new Dec(s.mergeThreshold));
  const forksPerWeek = s.maxForksPerDay * 7;
  const mergesPerWeek = Math.min(s.maxMergesPerScan * 7, s.mergeCoolingHours > 0 ? Math.max(1, Math.floor(168 / s.mergeCoolingHours)) : s.maxMergesPerScan * 7);

  let nextId = 0;
  const byKey = new Map<string, Unit>();
  const units: Unit[] = [];
  for (const u of start.units) {
    const unit: Unit = { id: nextId++, kind: u.kind, parent: u.parentKey ? byKey.get(u.parentKey) ?? null : null, active: true, createdWeek: 0, accounts: [] };
    unit.accounts = u.accounts.map((a) => ({ type: a.type, balance: toCents(a.balance), base: toCents(a.baseBalance), unit, noFork: a.noFork }));
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
        a.balance = safe(a.balance + gain);
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
      com.balance += c.cents;
      com.base += c.cents;
      for (const a of c.unit.accounts) a.balance = 0;
      c.unit.active = false;
      // Children re-parent lazily: a merged parent is skipped when a child merges (see `target` above).
      result.merges.push({ week, amount: show(c.cents) });
      yearStats.merges++;
    }

    const forkable = active
      .filter((u) => u.active)
      .flatMap((u) => u.accounts.filter((a) => a.type === 'gen' && !a.noFork && a.balance - a.base >= threshold))
      .sort((a, b) => b.balance - b.base - (a.balance - a.base))
      .slice(0, forksPerWeek);
    for (const gen of forkable) {
      const plan = forkPlan(fromCents(gen.balance - gen.base), s);
      const [forkAmount, retained, childGen, childCom] = [plan.forkAmount, plan.retained, plan.childGen, plan.childCom].map(toCents) as [number, number, number, number];
      gen.balance -= forkAmount;
      gen.base += retained;
      const unit: Unit = { id: nextId++, kind: 'forked', parent: gen.unit, active: true, createdWeek: week, accounts: [] };
      unit.accounts = [
        { type: 'gen', balance: childGen, base: childGen, unit },
        { type: 'com', balance: childCom, base: childCom, unit },
      ];
      units.push(unit);
      result.forks.push({ week, amount: show(forkAmount) });
      yearStats.forks++;
      yearStats.created++;
    }
    active = units.filter((u) => u.active);

    const totals = { gen: 0, rev: 0, com: 0, forked: 0 };
    for (const u of active) {
      for (const a of u.accounts) {
        if (u === root) totals[a.type] += a.balance;
        else totals.forked += a.balance;
      }
    }
    const total = totals.gen + totals.rev + totals.com + totals.forked;
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

/** Weekly rows as CSV (for spreadsheets and charts). */
export function projectionCsv(r: ProjectionResult): string {
  const header = 'week,year,total,gen,rev,com,forked,active_forked_units';
  const rows = r.weeks.map((w) => [w.week, Math.ceil(w.week / WEEKS_PER_YEAR), w.total, w.gen, w.rev, w.com, w.forked, w.activeForkedUnits].join(','));
  return [header, ...rows].join('\n') + '\n';
}
