/**
 * The seeded fault schedule of a chaos run: which fault at which second of the
 * load, for how long, and with which broker rates. Pure: the same seed and
 * length always give the same schedule (test/unit/chaos-schedule.test.ts).
 */
import { Prng, stream } from './prng';

/** A process fault's target: one instance (by index) or every instance at once. */
export type Target = number | 'all';

export type FaultEvent =
  | { at: number; kind: 'worker-kill'; target: Target; downSeconds: number }
  | { at: number; kind: 'api-kill'; target: Target; downSeconds: number }
  /** `fast`: a clean shutdown; `immediate`: no checkpoint, so the restart replays the WAL as after a crash. */
  | { at: number; kind: 'postgres-restart'; mode: 'fast' | 'immediate'; downSeconds: number }
  | { at: number; kind: 'temporal-restart'; downSeconds: number }
  | { at: number; kind: 'broker-weather'; seconds: number; failureRate: number; timeoutRate: number }
  /** The engine clock jumps `hours` ahead; the scan schedule's `missedScans` last intervals are run at once. */
  | { at: number; kind: 'clock-jump'; hours: number; missedScans: number };

export type FaultKind = FaultEvent['kind'];

export const FAULT_KINDS: readonly FaultKind[] = ['worker-kill', 'api-kill', 'postgres-restart', 'temporal-restart', 'broker-weather', 'clock-jump'];

export interface ScheduleOptions {
  seed: number;
  /** Length of the load in minutes. */
  minutes: number;
  workers: number;
  apis: number;
}

/** Faults start in this share of the load window; its last part lets the load run on a recovering system. */
const FAULTS_FROM = 0.08;
const FAULTS_UNTIL = 0.8;
/** One fault beyond the first of each kind per this many seconds of load past the first two minutes. */
const EXTRA_FAULT_EVERY_S = 30;

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Every kind of fault at least once (the clock jump exactly once, see
 * docs/reliability.md), more process and broker faults in longer runs, at
 * random seconds of the load; broker windows never overlap.
 */
export function buildFaultSchedule(opts: ScheduleOptions): FaultEvent[] {
  if (!(opts.minutes > 0)) throw new Error('minutes must be positive');
  const rng = stream(opts.seed, 0);
  const window = opts.minutes * 60;
  const extras = Math.max(0, Math.round((window - 120) / EXTRA_FAULT_EVERY_S));
  const repeatable: FaultKind[] = ['worker-kill', 'api-kill', 'postgres-restart', 'temporal-restart', 'broker-weather'];
  const kinds: FaultKind[] = [...FAULT_KINDS, ...Array.from({ length: extras }, () => rng.pick(repeatable))];
  const events = kinds.map((kind) => eventOf(kind, rng, opts, window));
  events.sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind));
  separateBrokerWindows(events, window);
  return events;
}

function eventOf(kind: FaultKind, rng: Prng, opts: ScheduleOptions, window: number): FaultEvent {
  const at = round1(rng.between(FAULTS_FROM, FAULTS_UNTIL) * window);
  const target = (count: number): Target => (count > 1 && rng.chance(0.3) ? 'all' : rng.int(0, count - 1));
  switch (kind) {
    case 'worker-kill':
      return { at, kind, target: target(opts.workers), downSeconds: round1(rng.between(0, 4)) };
    case 'api-kill':
      return { at, kind, target: target(opts.apis), downSeconds: round1(rng.between(0, 3)) };
    case 'postgres-restart':
      return { at, kind, mode: rng.chance(0.5) ? 'immediate' : 'fast', downSeconds: round1(rng.between(0.5, 5)) };
    case 'temporal-restart':
      return { at, kind, downSeconds: round1(rng.between(0.5, 5)) };
    case 'broker-weather':
      // A flaky broker (retries get through), or an outage long enough that steps run out of retries and compensate.
      return rng.chance(0.4)
        ? { at, kind, seconds: round1(rng.between(20, 40)), failureRate: round2(rng.between(0.8, 0.88)), timeoutRate: round2(rng.between(0.1, 0.12)) }
        : {
          at, kind,
          seconds: round1(Math.min(45, Math.max(8, rng.between(0.08, 0.2) * window))),
          failureRate: round2(rng.between(0.1, 0.5)),
          timeoutRate: round2(rng.between(0.02, 0.15)),
        };
    case 'clock-jump':
      // Past a day and its 24 h fork cooling period, short of two (see the run's cooled accounts).
      return { at: round1(rng.between(0.3, 0.6) * window), kind, hours: round1(rng.between(25, 47)), missedScans: rng.int(3, 8) };
  }
}

/**
 * One rate file, one weather at a time: a broker window ends a second before
 * the next begins (and by 90% of the load); a window that would begin less
 * than two seconds after the one before is dropped.
 */
function separateBrokerWindows(events: FaultEvent[], window: number): void {
  let previous: Extract<FaultEvent, { kind: 'broker-weather' }> | undefined;
  for (const e of [...events]) {
    if (e.kind !== 'broker-weather') continue;
    if (previous && e.at - previous.at < 2) {
      events.splice(events.indexOf(e), 1);
      continue;
    }
    if (previous) previous.seconds = round1(Math.min(previous.seconds, e.at - 1 - previous.at));
    previous = e;
  }
  for (const e of events) if (e.kind === 'broker-weather') e.seconds = round1(Math.max(1, Math.min(e.seconds, 0.9 * window - e.at)));
}

/** One line per fault, as printed at the start of a run and in its report. */
export function describeFault(e: FaultEvent): string {
  const who = (name: string, t: Target) => (t === 'all' ? `every ${name}` : `${name} ${t}`);
  const at = `t+${e.at.toFixed(1).padStart(5)} s`;
  switch (e.kind) {
    case 'worker-kill':
      return `${at}  kill -9 ${who('worker', e.target)}, start again after ${e.downSeconds} s`;
    case 'api-kill':
      return `${at}  kill -9 ${who('API process', e.target)}, start again after ${e.downSeconds} s`;
    case 'postgres-restart':
      return `${at}  PostgreSQL ${e.mode} shutdown, start again after ${e.downSeconds} s`;
    case 'temporal-restart':
      return `${at}  Temporal dev server stopped, start again after ${e.downSeconds} s (same database file)`;
    case 'broker-weather':
      return `${at}  broker fails ${pct(e.failureRate)} of calls and times out ${pct(e.timeoutRate)} for ${e.seconds} s`;
    case 'clock-jump':
      return `${at}  engine clock jumps ${e.hours} h ahead; the scan schedule's next ${e.missedScans} intervals come due at once`;
  }
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
