/**
 * The projection work the API hands to its worker threads
 * (src/projection/pool.ts), as plain data both ways: amounts are decimal
 * strings, instants epoch milliseconds, results the projection's own strings
 * and counts. Nothing here does I/O, so the same functions run in a worker,
 * in-process (scripts, tests), and give the same answers.
 */
import type Decimal from 'decimal.js';
import { forkPlan } from '../domain/fork';
import { Dec, formatMoney } from '../domain/money';
import { type ProjectionResult, type ProjectionStart, ProjectionRangeError, type StartAccount, project, projectionCsv } from '../domain/projection';
import type { PortfolioSettings } from '../domain/settings';

/** docs/domain.md section 3: the horizon of a fork's predicted impact. */
export const IMPACT_YEARS = 5;

/** A ProjectionStart as plain data. */
export interface StartData {
  settings: PortfolioSettings;
  at: number;
  forksToday: number;
  units: {
    key: string;
    parentKey: string | null;
    kind: 'root' | 'forked';
    accounts: { type: StartAccount['type']; balance: string; baseBalance: string; createdAt: number; lastForkAt: number | null; noFork?: boolean }[];
  }[];
}

export function startData(start: ProjectionStart): StartData {
  return {
    settings: { ...start.settings },
    at: start.at.getTime(),
    forksToday: start.forksToday ?? 0,
    units: start.units.map((u) => ({
      key: u.key, parentKey: u.parentKey, kind: u.kind,
      accounts: u.accounts.map((a) => ({
        type: a.type, balance: a.balance.toFixed(), baseBalance: a.baseBalance.toFixed(), createdAt: a.createdAt.getTime(),
        lastForkAt: a.lastForkAt?.getTime() ?? null, ...(a.noFork && { noFork: true }),
      })),
    })),
  };
}

export function startFrom(data: StartData): ProjectionStart {
  return {
    settings: data.settings,
    at: new Date(data.at),
    forksToday: data.forksToday,
    units: data.units.map((u) => ({
      ...u,
      accounts: u.accounts.map((a) => ({
        ...a, balance: new Dec(a.balance), baseBalance: new Dec(a.baseBalance), createdAt: new Date(a.createdAt),
        lastForkAt: a.lastForkAt === null ? null : new Date(a.lastForkAt),
      })),
    })),
  };
}

export interface ProjectionOptionsData {
  years: number;
  marketMix: boolean;
  seed: number;
}

/** A comparison's view of one variant: where it ends. */
export interface VariantSummary {
  total: string;
  /** Forked units still active at the end. */
  forkedUnits: number;
  forks: number;
  merges: number;
}

export interface ImpactSummary {
  total: string;
  activeForkedUnits: number;
  forks: number;
  merges: number;
}

export interface ForkImpact {
  horizonYears: number;
  withFork: ImpactSummary;
  withoutFork: ImpactSummary;
  difference: string;
}

/** How a projection is answered over HTTP: JSON by year (or with the weekly rows too), or the weekly rows as CSV. */
export interface OutputData {
  format: 'json' | 'csv';
  granularity: 'year' | 'week';
}

/** A response body, ready to send. */
export interface Document {
  contentType: string;
  body: string;
}

export type ProjectionTask =
  /** One projection, weekly rows included. */
  | { kind: 'project'; start: StartData; options: ProjectionOptionsData }
  /**
   * One projection as the response body the API sends: written on the worker
   * thread, so the API's thread only passes a string on (a 30-year answer
   * holds tens of thousands of forks).
   */
  | { kind: 'document'; start: StartData; options: ProjectionOptionsData; output: OutputData }
  /** Several starts projected alike, each summed up. */
  | { kind: 'compare'; starts: StartData[]; options: ProjectionOptionsData }
  /** The predicted impact of forking now the Gen-Acc of `unitKey` (null: no unit of the start) for `surplus`. */
  | { kind: 'impact'; start: StartData; unitKey: string | null; surplus: string };

interface Values {
  project: ProjectionResult;
  document: Document;
  compare: VariantSummary[];
  impact: ForkImpact;
}

/**
 * A task's answer: its value, or where it left the amounts a projection
 * computes exactly (the week, as ProjectionRangeError has it, and for a
 * comparison the variant's index). A range error is the input's, never a
 * failure, so it comes back as data rather than as an error thrown across
 * the thread boundary (which would lose its class).
 */
export type TaskOutcome<K extends ProjectionTask['kind'] = ProjectionTask['kind']> = { value: Values[K] } | { outOfRange: { week: number; variant?: number } };

export type TaskOf<K extends ProjectionTask['kind']> = Extract<ProjectionTask, { kind: K }>;

/** Runs a task (in a worker thread, or in-process). */
export function runTask<K extends ProjectionTask['kind']>(task: TaskOf<K>): TaskOutcome<K>;
export function runTask(task: ProjectionTask): TaskOutcome {
  let variant: number | undefined;
  try {
    switch (task.kind) {
      case 'project':
        return { value: project(startFrom(task.start), task.options) };
      case 'document':
        return { value: documentOf(project(startFrom(task.start), task.options), task.output) };
      case 'compare': {
        const summaries: VariantSummary[] = [];
        for (const [i, start] of task.starts.entries()) {
          variant = i;
          const r = project(startFrom(start), task.options);
          const last = r.years[r.years.length - 1]!;
          summaries.push({ total: last.total, forkedUnits: last.activeForkedUnits, forks: r.forks.length, merges: r.merges.length });
        }
        return { value: summaries };
      }
      case 'impact':
        return { value: forkImpact(startFrom(task.start), task.unitKey, new Dec(task.surplus)) };
    }
  } catch (err) {
    if (!(err instanceof ProjectionRangeError)) throw err;
    return { outOfRange: { week: err.week, ...(variant !== undefined && { variant }) } };
  }
}

/** A projection as the API answers it: CSV (weekly rows), or JSON by year with the weekly rows only when asked for. */
export function documentOf(r: ProjectionResult, output: OutputData): Document {
  if (output.format === 'csv') return { contentType: 'text/csv; charset=utf-8', body: projectionCsv(r) };
  const shown = output.granularity === 'week' ? r : { years: r.years, forks: r.forks, merges: r.merges };
  return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(shown) };
}

/** A task's value, or its range error thrown as the ProjectionRangeError it was. */
export function valueOf<K extends ProjectionTask['kind']>(outcome: TaskOutcome<K>): Values[K] {
  if ('outOfRange' in outcome) throw new ProjectionRangeError(outcome.outOfRange.week);
  return outcome.value;
}

/**
 * docs/domain.md section 3: the fork's predicted impact, the portfolio projected
 * over IMPACT_YEARS with this fork made now against the same portfolio in
 * which this Gen-Acc keeps its surplus and never forks. Throws
 * ProjectionRangeError when either projection would pass the amounts it
 * computes exactly.
 */
export function forkImpact(start: ProjectionStart, unitKey: string | null, surplus: Decimal): ForkImpact {
  const isParent = (u: ProjectionStart['units'][number]) => u.key === unitKey;
  const plan = forkPlan(surplus, start.settings);
  // The predicted fork happens now: it starts the parent's cooling period, opens the new unit's
  // accounts and counts against today's forks, exactly as the real one would.
  const opened = { createdAt: start.at, lastForkAt: null };
  const withFork: ProjectionStart = {
    settings: start.settings,
    at: start.at,
    forksToday: (start.forksToday ?? 0) + 1,
    units: [
      ...start.units.map((u) =>
        isParent(u)
          ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, balance: a.balance.minus(plan.forkAmount), baseBalance: a.baseBalance.plus(plan.retained), lastForkAt: start.at } : a)) }
          : u,
      ),
      {
        key: 'predicted-fork', parentKey: unitKey, kind: 'forked',
        accounts: [
          { type: 'gen', balance: plan.childGen, baseBalance: plan.childGen, ...opened },
          { type: 'com', balance: plan.childCom, baseBalance: plan.childCom, ...opened },
        ],
      },
    ],
  };
  const withoutFork: ProjectionStart = {
    ...start,
    units: start.units.map((u) => (isParent(u) ? { ...u, accounts: u.accounts.map((a) => (a.type === 'gen' ? { ...a, noFork: true } : a)) } : u)),
  };
  const summary = (r: ProjectionResult): ImpactSummary => {
    const last = r.years[r.years.length - 1]!;
    return { total: last.total, activeForkedUnits: last.activeForkedUnits, forks: r.forks.length, merges: r.merges.length };
  };
  const a = summary(project(withFork, { years: IMPACT_YEARS }));
  const b = summary(project(withoutFork, { years: IMPACT_YEARS }));
  return { horizonYears: IMPACT_YEARS, withFork: a, withoutFork: b, difference: formatMoney(new Dec(a.total).minus(b.total)) };
}
