import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
