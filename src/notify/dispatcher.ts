import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config';
import { pgIso } from '../db/sql';
import type { Logger } from '../infra/logger';
import { metrics } from '../infra/metrics';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signPayload } from './signature';
import { type AllowList, type LookupAll, type ResolvedAddress, checkWebhookUrl, parseAllowList, systemLookupAll } from './ssrf';

/**
 * The webhook dispatcher: delivers the outbox (webhook_deliveries) at least
 * once. All of its state is in PostgreSQL, so any number of dispatchers (one
 * per process) can run together and a delivery survives a restart of all of
 * them:
 *
 * 1. claim: one statement picks due pending deliveries with
 *    `for update skip locked` (two dispatchers never claim the same row) and
 *    moves their next_attempt_at forward by a lease, so a dispatcher that dies
 *    mid-send leaves a delivery that another one retries after the lease;
 * 2. send, outside any transaction: SSRF check of the URL's current DNS
 *    answer, then a signed POST to the checked addresses only, no redirects,
 *    10 s timeout;
 * 3. record the outcome: delivered, or attempts+1 with the status code or
 *    error and the next attempt after an exponential backoff with jitter;
 *    failed once the event is older than webhookGiveUpHours.
 */

export type DispatcherConfig = Pick<Config, 'webhookAllowedHosts' | 'webhookRetryInitialMs' | 'webhookRetryMaxMs' | 'webhookGiveUpHours'>;

export interface WebhookDispatcher {
  /** Stops claiming, lets the attempts in flight finish and record their outcome. */
  stop(): Promise<void>;
  /** Looks for due deliveries now instead of at the next tick. */
  kick(): void;
}

export const DELIVERY_TIMEOUT_MS = 10_000;
/** Longer than an attempt can take (DNS 5 s + request 10 s), so a live dispatcher never loses its lease. */
const LEASE_MS = 60_000;
const TICK_MS = 500;
const ERROR_PAUSE_MS = 5000;
const BATCH = 20;
const MAX_ERROR_LENGTH = 500;

interface Claimed {
  id: string;
  webhook_id: string;
  event_id: string;
  attempts: number;
  url: string;
  secret: string;
  type: string;
  data: unknown;
  event_created_at: string;
}

export interface AttemptResult {
  /** 2xx. */
  ok: boolean;
  statusCode?: number;
  error?: string;
  /** The SSRF guard refused the URL's addresses: no request was sent. */
  refused?: boolean;
}

/** Delay before attempt `attempt + 1`: initial * 2^(attempt-1), capped, with "equal jitter" (half fixed, half random). */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** A `lookup` for node:http that answers only the already checked addresses (the connection is pinned to them). */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, addresses.map((a) => ({ address: a.address, family: a.family })));
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  }) as unknown as LookupFunction;
}

/**
 * One delivery attempt: SSRF check, then POST. Never follows a redirect
 * (node:http does not follow them; a 3xx is simply not a 2xx).
 */
export async function attemptDelivery(
  target: { url: string; secret: string; eventId: string; body: string },
  allow: AllowList,
  lookupAll: LookupAll = systemLookupAll,
): Promise<AttemptResult> {
  const check = await checkWebhookUrl(target.url, allow, lookupAll);
  if (!check.ok) {
    return check.kind === 'dns' ? { ok: false, error: check.reason } : { ok: false, refused: true, error: `refused: ${check.reason}` };
  }
  const { url, addresses } = check;
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(target.body)),
    'User-Agent': 'alluse-webhooks/1',
    [EVENT_ID_HEADER]: target.eventId,
    [SIGNATURE_HEADER]: signPayload(target.secret, target.body),
  };
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const client = url.protocol === 'https:' ? https : http;
    // agent: false: a fresh connection per attempt, never a pooled socket opened for another check.
    const req = client.request(url, { method: 'POST', headers, agent: false, lookup: pinnedLookup(addresses) }, (res) => {
      const statusCode = res.statusCode ?? 0;
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        // The answer's body is not used: read a little, then hang up.
        if (received > 64 * 1024) res.destroy();
      });
      const finish = () =>
        done(statusCode >= 200 && statusCode < 300 ? { ok: true, statusCode } : { ok: false, statusCode, error: `HTTP ${statusCode}` });
      res.on('end', finish);
      res.on('close', finish);
      res.on('error', finish);
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${DELIVERY_TIMEOUT_MS / 1000} s`));
    }, DELIVERY_TIMEOUT_MS);
    req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message }));
    req.end(target.body);
  });
}

export function startWebhookDispatcher(opts: {
  orm: MikroORM;
  log: Logger;
  config: DispatcherConfig;
  /** Tests: a resolver other than the system's. */
  lookupAll?: LookupAll;
}): WebhookDispatcher {
  const { orm, log, config } = opts;
  const allow = parseAllowList(config.webhookAllowedHosts);
  let stopping = false;
  let wake: (() => void) | undefined;
  let kicked = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (kicked || stopping) {
        kicked = false;
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  const claim = async (): Promise<Claimed[]> =>
    orm.em.fork().execute<Claimed[]>(
      `with due as (
         select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id
          where d.status = 'pending' and d.next_attempt_at <= now() and w.deleted_at is null
          order by d.next_attempt_at limit ?
          for update of d skip locked)
       update webhook_deliveries d set next_attempt_at = now() + (? * interval '1 millisecond')
         from due, webhooks w, events e
        where d.id = due.id and w.id = d.webhook_id and e.id = d.event_id
       returning d.id, d.webhook_id, d.event_id, d.attempts, w.url, w.secret, e.type, e.data, e.created_at as event_created_at`,
      [BATCH, LEASE_MS],
    );

  const deliver = async (c: Claimed): Promise<void> => {
    const body = JSON.stringify({ id: c.event_id, type: c.type, createdAt: pgIso(c.event_created_at), data: c.data });
    let result: AttemptResult;
    try {
      result = await attemptDelivery({ url: c.url, secret: c.secret, eventId: c.event_id, body }, allow, opts.lookupAll);
    } catch (err) {
      result = { ok: false, error: String((err as Error)?.message ?? err) };
    }
    const attempt = Number(c.attempts) + 1;
    const em = orm.em.fork();
    // `attempts = ?`: the outcome lands only if no one else attempted this delivery since it was claimed.
    if (result.ok) {
      await em.execute(
        `update webhook_deliveries set status = 'delivered', attempts = attempts + 1, last_status_code = ?, last_error = null, delivered_at = now()
          where id = ? and status = 'pending' and attempts = ?`,
        [result.statusCode ?? null, c.id, c.attempts],
      );
      metrics.webhookDeliveries.inc({ outcome: 'delivered' });
      log.debug('webhook delivered', { deliveryId: c.id, eventId: c.event_id, webhookId: c.webhook_id, attempt, statusCode: result.statusCode });
      return;
    }
    const delay = backoffMs(attempt, config.webhookRetryInitialMs, config.webhookRetryMaxMs);
    const [row] = await em.execute<{ status: string }[]>(
      `update webhook_deliveries
          set attempts = attempts + 1, last_status_code = ?, last_error = ?,
              status = case when created_at + (? * interval '1 hour') <= now() then 'failed' else 'pending' end,
              next_attempt_at = now() + (? * interval '1 millisecond')
        where id = ? and status = 'pending' and attempts = ?
        returning status`,
      [result.statusCode ?? null, (result.error ?? 'failed').slice(0, MAX_ERROR_LENGTH), config.webhookGiveUpHours, delay, c.id, c.attempts],
    );
    const gaveUp = row?.status === 'failed';
    metrics.webhookDeliveries.inc({ outcome: gaveUp ? 'failed' : result.refused ? 'refused' : 'retry' });
    const fields = {
      deliveryId: c.id, eventId: c.event_id, webhookId: c.webhook_id, attempt, statusCode: result.statusCode, error: result.error,
      ...(gaveUp ? {} : { retryInMs: delay }),
    };
    if (gaveUp) log.warn('webhook delivery failed, giving up', fields);
    else log.info('webhook delivery attempt failed, will retry', fields);
  };

  const loop = async () => {
    while (!stopping) {
      let claimed: Claimed[] = [];
      let pause = TICK_MS;
      try {
        claimed = await claim();
        await Promise.all(claimed.map((c) => deliver(c).catch((err) => {
          // The outcome could not be recorded: the lease expires and the delivery is attempted again.
          log.error('webhook delivery outcome not recorded', { deliveryId: c.id, error: String((err as Error)?.message ?? err) });
        })));
      } catch (err) {
        if (stopping) break;
        log.error('webhook dispatcher: claiming deliveries failed', { error: String((err as Error)?.message ?? err) });
        pause = ERROR_PAUSE_MS; // the database is likely down: do not log twice a second
      }
      // A full batch: there may be more due at once.
      if (claimed.length < BATCH) await sleep(pause);
    }
  };

  const running = loop();
  log.info('webhook dispatcher started', { allowedHosts: config.webhookAllowedHosts });
  return {
    kick: () => {
      if (wake) wake();
      else kicked = true;
    },
    stop: async () => {
      stopping = true;
      wake?.();
      await running;
    },
  };
}
