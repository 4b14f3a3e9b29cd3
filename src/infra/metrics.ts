import type { MikroORM } from '@mikro-orm/postgresql';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from './logger';

/**
 * The engine's Prometheus metrics, one registry per process. The API serves
 * them at GET /metrics (with the Temporal SDK's own worker metrics appended).
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'alluse_process_' });

export const metrics = {
  /** Operations (fork, merge, reinvestment) that ended, by type and outcome (completed, compensated, failed, cancelled, expired, skipped). */
  operations: new Counter({ name: 'alluse_operations_total', help: 'Operations ended, by type and outcome', labelNames: ['type', 'outcome'] as const, registers: [registry] }),
  /** Operations that started, by type. */
  operationsStarted: new Counter({ name: 'alluse_operations_started_total', help: 'Operations started, by type', labelNames: ['type'] as const, registers: [registry] }),
  /** Activity (saga step) latency, by activity and outcome. */
  stepSeconds: new Histogram({
    name: 'alluse_saga_step_seconds', help: 'Saga step (activity) latency in seconds', labelNames: ['activity', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry],
  }),
  /** One ledger entry posted (idempotency check, locks, postings, balances, audit). */
  ledgerPostSeconds: new Histogram({
    name: 'alluse_ledger_post_seconds', help: 'Ledger posting latency in seconds', labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry],
  }),
  httpSeconds: new Histogram({
    name: 'alluse_http_request_duration_seconds', help: 'HTTP request duration in seconds, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  }),
  /** Webhook delivery attempts, by outcome (delivered, retry, failed, refused). */
  webhookDeliveries: new Counter({ name: 'alluse_webhook_deliveries_total', help: 'Webhook delivery attempts, by outcome', labelNames: ['outcome'] as const, registers: [registry] }),
  /** Tasks opened and decided, by kind and decision. */
  tasksDecided: new Counter({ name: 'alluse_tasks_decided_total', help: 'Tasks decided, by kind and decision', labelNames: ['kind', 'decision'] as const, registers: [registry] }),
};

/** Task kinds (tasks.kind): always reported, 0 when none is open, so an alert needs no absent(). */
const TASK_KINDS = ['approval', 'broker'] as const;

interface OpenTaskRow {
  kind: string;
  open: number;
  oldest_seconds: number;
}

interface TaskSource {
  orm: MikroORM;
  pending?: Promise<OpenTaskRow[]>;
}

/** The databases of the APIs running in this process; the gauges read the latest one. */
const taskSources: TaskSource[] = [];

/** One query per scrape for both task gauges (their collects run together). */
function openTasks(source: TaskSource): Promise<OpenTaskRow[]> {
  source.pending ??= source.orm.em
    .fork()
    .execute<OpenTaskRow[]>(
      `select kind, count(*)::int as open, extract(epoch from now() - min(created_at))::float8 as oldest_seconds
         from tasks where status = 'open' group by kind`,
    )
    .finally(() => {
      source.pending = undefined;
    });
  return source.pending;
}

/** Fills a task gauge from the database at scrape time; no samples when there is no database or it does not answer. */
async function collectTasks(gauge: Gauge<'kind'>, value: (row: OpenTaskRow | undefined) => number): Promise<void> {
  gauge.reset();
  const source = taskSources.at(-1);
  if (!source) return;
  let rows: OpenTaskRow[];
  try {
    rows = await openTasks(source);
  } catch {
    return; // A database that does not answer shows as missing samples, not as a failed /metrics.
  }
  for (const kind of TASK_KINDS) gauge.set({ kind }, value(rows.find((r) => r.kind === kind)));
}

/** Open tasks (waiting on a person), by kind, read from PostgreSQL at each scrape. */
export const tasksOpen: Gauge<'kind'> = new Gauge({
  name: 'alluse_tasks_open', help: 'Tasks open (waiting on a person), by kind', labelNames: ['kind'] as const, registers: [registry],
  collect: () => collectTasks(tasksOpen, (r) => r?.open ?? 0),
});

/** Age of the oldest open task, by kind (0 when none is open). */
export const tasksOldestOpenSeconds: Gauge<'kind'> = new Gauge({
  name: 'alluse_tasks_oldest_open_seconds', help: 'Age in seconds of the oldest open task, by kind (0: none open)', labelNames: ['kind'] as const,
  registers: [registry],
  collect: () => collectTasks(tasksOldestOpenSeconds, (r) => r?.oldest_seconds ?? 0),
});

/**
 * Lets the gauges read from the database (called where the API starts).
 * Returns the undo, for when the API stops (before its ORM closes).
 */
export function registerDbCollectors(orm: MikroORM): () => void {
  const source: TaskSource = { orm };
  taskSources.push(source);
  return () => {
    const i = taskSources.indexOf(source);
    if (i >= 0) taskSources.splice(i, 1);
  };
}

/**
 * The text exposition served at GET /metrics: this registry, then the
 * Temporal SDK's own metrics when its Prometheus exporter runs at
 * `sdkAddress` (host:port; fetched with a 2 s timeout, left out on failure).
 */
export async function exposition(opts: { sdkAddress?: string; log?: Logger } = {}): Promise<string> {
  const [ours, sdk] = await Promise.all([registry.metrics(), opts.sdkAddress ? sdkExposition(opts.sdkAddress, opts.log) : '']);
  if (!sdk.trim()) return ours;
  return `${ours.endsWith('\n') ? ours : `${ours}\n`}${sdk}`;
}

async function sdkExposition(address: string, log?: Logger): Promise<string> {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (err) {
    log?.debug('Temporal SDK metrics not appended', { address, error: String((err as Error)?.message ?? err) });
    return '';
  }
}
