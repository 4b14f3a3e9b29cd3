import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { isAllowListEntry } from './notify/ssrf';

const port = z.coerce.number().int().min(1).max(65535);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: port.default(3000),
  ALLUSE_DATA_DIR: z.string().default('.data'),
  DATABASE_URL: z.string().url().optional(),
  ALLUSE_PG_PORT: port.default(54329),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('alluse'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  /** The Temporal Web UI's address as a browser reaches it; a trailing slash is dropped. */
  TEMPORAL_UI_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as http://127.0.0.1:8233' })
    .refine((u) => !/[?#]/.test(u), 'must have no query string or fragment')
    // Every key (a viewer's too) reads it in GET /v1/me and in each operation's temporalUiUrl.
    .refine((u) => { const url = new URL(u); return !url.username && !url.password; }, 'must hold no user name or password (every API key can read it)')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional(),
  TEMPORAL_CLI: z.string().optional(),
  ALLUSE_ADMIN_API_KEY: z.string().min(24, 'ALLUSE_ADMIN_API_KEY must be at least 24 characters').optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  WORKER_ACTIVITY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(100),
  WORKER_WORKFLOW_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(100),
  /** Projection worker threads of the API; unset: one fewer than the machine's cores, at least one. */
  PROJECTION_POOL_SIZE: z.coerce.number().int().min(1).max(256).optional(),
  PROJECTION_QUEUE_MAX: z.coerce.number().int().min(0).max(10_000).default(16),
  PROJECTION_TIME_BUDGET_MS: z.coerce.number().int().min(100).max(10 * 60_000).default(10_000),
  SCAN_INTERVAL_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(15),
  REINVEST_TIMEZONE: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as America/New_York'),
  MARKET_DATA_CSV: z.string().optional(),
  TEMPORAL_CODEC_KEYS: z.string().optional(),
  TEMPORAL_CODEC_KEY_ID: z.string().optional(),
  /** Callers on loopback use the codec endpoint without a key; unset: yes outside production, no in production. */
  TEMPORAL_CODEC_TRUST_LOOPBACK: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(1200),
  /** `npm run worker` alone: serve its metrics on this port (GET /metrics). */
  WORKER_METRICS_PORT: port.optional(),
  METRICS_TOKEN: z.string().min(16, 'METRICS_TOKEN must be at least 16 characters').optional(),
  TEMPORAL_METRICS_ADDRESS: z
    .string()
    .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
    .optional(),
  PAPER_BROKER_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  PAPER_BROKER_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  PAPER_BROKER_TIMEOUT_RATE: z.coerce.number().min(0).max(1).default(0),
  /** Chaos runs: a JSON file `{ "failureRate": 0.3, "timeoutRate": 0.1 }` the paper broker re-reads while it runs. */
  PAPER_BROKER_WEATHER_FILE: z.string().min(1).optional(),
  /** Chaos runs: a file holding how many milliseconds the worker's engine clock runs ahead of the system clock. */
  ALLUSE_CLOCK_OFFSET_FILE: z.string().min(1).optional(),
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((h) => h.trim()).filter(Boolean))
    .refine((hosts) => hosts.every(isAllowListEntry), 'must be comma-separated host names, IP addresses or CIDRs (e.g. 127.0.0.1,::1,10.0.0.0/8)'),
  WEBHOOK_RETRY_INITIAL_MS: z.coerce.number().int().min(1).max(86_400_000).default(10_000),
  WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(1).max(86_400_000).default(3_600_000),
  WEBHOOK_GIVE_UP_HOURS: z.coerce.number().min(0).max(24 * 30).default(25),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  dataDir: string;
  /** Set: use this PostgreSQL. Unset: run the embedded one under dataDir. */
  databaseUrl?: string;
  embeddedPgPort: number;
  dbPoolMax: number;
  /** Set: use this Temporal frontend. Unset: run the dev server under dataDir. */
  temporalAddress?: string;
  temporalNamespace: string;
  taskQueue: string;
  temporalPort: number;
  temporalUiPort: number;
  /**
   * The Temporal Web UI as a browser reaches it (no trailing slash): operations link to it
   * (`temporalUiUrl`). Unset: `npm start` uses its dev server's UI, `npm run api` links nowhere.
   */
  temporalUiUrl?: string;
  temporalCli?: string;
  adminApiKey?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** AES-256-GCM payload codec keys, "<id>:<base64 key>,..." (unset in production: payloads in clear). */
  codecKeys?: string;
  codecKeyId?: string;
  /**
   * Whether the codec endpoint serves callers on loopback without a key (the
   * dev server's UI in a local browser). Off by default in production: behind
   * a reverse proxy on the same host every caller is on loopback.
   */
  codecTrustLoopback: boolean;
  /** Requests per minute per API key, counted together by every API process on the database (0: no limit). */
  rateLimitPerMinute: number;
  /** Set: GET /metrics requires `Authorization: Bearer <token>`. Unset: /metrics is open, like /healthz. */
  metricsToken?: string;
  /** `npm run worker` alone: the port of its own GET /metrics (unset: none). */
  workerMetricsPort?: number;
  /** host:port of the Temporal SDK's Prometheus exporter (the worker binds it; /metrics appends it). */
  temporalMetricsAddress?: string;
  /** CSV market data (date,index_close,volatility_index) for the dynamic strategy; unset: the synthetic source. */
  marketDataCsv?: string;
  scanIntervalMinutes: number;
  /** IANA time zone in which a quarter closes for the reinvestment schedule. */
  reinvestTimezone: string;
  workerActivityConcurrency: number;
  workerWorkflowConcurrency: number;
  /**
   * The API's projection worker threads (src/projection/pool.ts): how many, how
   * many requests may wait for one (more are refused with 503), and the time a
   * projection may take from its arrival (then it is stopped, 503).
   */
  projectionPool: { size: number; queueMax: number; timeBudgetMs: number };
  paperBroker: { latencyMs: number; failureRate: number; timeoutRate: number; hangMs: number; weatherFile?: string };
  /**
   * Chaos runs only: a file holding an offset in milliseconds that the worker's
   * activities add to the system clock (the rules' "now"), re-read while it runs.
   */
  clockOffsetFile?: string;
  /** Webhook targets permitted although private or loopback: host names, IP addresses or CIDRs (WEBHOOK_ALLOWED_HOSTS). */
  webhookAllowedHosts: string[];
  /** First retry delay of a failed webhook delivery; doubles per attempt (with jitter) up to webhookRetryMaxMs. */
  webhookRetryInitialMs: number;
  webhookRetryMaxMs: number;
  /** A delivery still failing this many hours after its event is marked failed. */
  webhookGiveUpHours: number;
}

/** Parses the environment once into a frozen, typed object; throws a readable error on bad values. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.NODE_ENV === 'production' && (!e.DATABASE_URL || !e.TEMPORAL_ADDRESS || !e.ALLUSE_ADMIN_API_KEY)) {
    // Production never falls back to the embedded services or a generated secret.
    throw new Error('invalid configuration: production needs DATABASE_URL, TEMPORAL_ADDRESS and ALLUSE_ADMIN_API_KEY');
  }
  const faultKnobs = [
    e.PAPER_BROKER_FAILURE_RATE > 0 && 'PAPER_BROKER_FAILURE_RATE', e.PAPER_BROKER_TIMEOUT_RATE > 0 && 'PAPER_BROKER_TIMEOUT_RATE',
    e.PAPER_BROKER_WEATHER_FILE && 'PAPER_BROKER_WEATHER_FILE', e.ALLUSE_CLOCK_OFFSET_FILE && 'ALLUSE_CLOCK_OFFSET_FILE',
  ].filter(Boolean);
  if (e.NODE_ENV === 'production' && faultKnobs.length) {
    // Fault injection and a shifted clock are for tests and chaos runs; in production they would be an outage by configuration.
    throw new Error(`invalid configuration: ${faultKnobs.join(', ')} inject faults and are refused in production`);
  }
  return Object.freeze({
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    dataDir: resolve(e.ALLUSE_DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    embeddedPgPort: e.ALLUSE_PG_PORT,
    dbPoolMax: e.DB_POOL_MAX,
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.TEMPORAL_TASK_QUEUE,
    temporalPort: e.TEMPORAL_PORT,
    temporalUiPort: e.TEMPORAL_UI_PORT,
    temporalUiUrl: e.TEMPORAL_UI_URL,
    temporalCli: e.TEMPORAL_CLI,
    adminApiKey: e.ALLUSE_ADMIN_API_KEY,
    logLevel: e.LOG_LEVEL,
    marketDataCsv: e.MARKET_DATA_CSV,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    metricsToken: e.METRICS_TOKEN,
    workerMetricsPort: e.WORKER_METRICS_PORT,
    temporalMetricsAddress: e.TEMPORAL_METRICS_ADDRESS,
    codecKeys: e.TEMPORAL_CODEC_KEYS,
    codecKeyId: e.TEMPORAL_CODEC_KEY_ID,
    codecTrustLoopback: e.TEMPORAL_CODEC_TRUST_LOOPBACK ? e.TEMPORAL_CODEC_TRUST_LOOPBACK === 'true' : e.NODE_ENV !== 'production',
    scanIntervalMinutes: e.SCAN_INTERVAL_MINUTES,
    reinvestTimezone: e.REINVEST_TIMEZONE,
    workerActivityConcurrency: e.WORKER_ACTIVITY_CONCURRENCY,
    workerWorkflowConcurrency: e.WORKER_WORKFLOW_CONCURRENCY,
    projectionPool: Object.freeze({
      size: e.PROJECTION_POOL_SIZE ?? Math.max(1, availableParallelism() - 1),
      queueMax: e.PROJECTION_QUEUE_MAX,
      timeBudgetMs: e.PROJECTION_TIME_BUDGET_MS,
    }),
    paperBroker: Object.freeze({
      latencyMs: e.PAPER_BROKER_LATENCY_MS,
      failureRate: e.PAPER_BROKER_FAILURE_RATE,
      timeoutRate: e.PAPER_BROKER_TIMEOUT_RATE,
      // Longer than the broker steps' 10 s timeout, so a "timeout" is one.
      hangMs: 15_000,
      weatherFile: e.PAPER_BROKER_WEATHER_FILE,
    }),
    clockOffsetFile: e.ALLUSE_CLOCK_OFFSET_FILE,
    webhookAllowedHosts: Object.freeze([...e.WEBHOOK_ALLOWED_HOSTS]) as string[],
    webhookRetryInitialMs: e.WEBHOOK_RETRY_INITIAL_MS,
    webhookRetryMaxMs: Math.max(e.WEBHOOK_RETRY_MAX_MS, e.WEBHOOK_RETRY_INITIAL_MS),
    webhookGiveUpHours: e.WEBHOOK_GIVE_UP_HOURS,
  });
}
