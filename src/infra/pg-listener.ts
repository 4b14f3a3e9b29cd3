import { Client } from 'pg';
import type { Logger } from './logger';

export interface PgListenerOptions {
  /** The PostgreSQL connection URL (the listener opens one connection of its own, outside the pool). */
  url: string;
  /** The channel to LISTEN on: a plain identifier. */
  channel: string;
  log: Logger;
  /** Called with each notification's payload, in commit order. */
  onNotification(payload: string): void;
  /**
   * Called each time LISTEN is in place on a new connection, the first time included: changes
   * committed while there was no connection were not notified, so whatever was derived before is suspect.
   */
  onListening(): void;
  /** How often the connection proves itself with a round trip (default 250 ms). */
  heartbeatMs?: number;
  /** A round trip unanswered for this long (default 3 s) counts as a dead connection: it is dropped and made again. */
  heartbeatTimeoutMs?: number;
  /** Reconnection delays: from the first, doubling per failed attempt up to the last, each with up to 50% jitter. */
  backoffMs?: { first: number; max: number };
  /** The connection's application_name in pg_stat_activity. */
  applicationName?: string;
}

export interface PgListener {
  /**
   * The time (Date.now()) at which the latest answered round trip was sent on the current connection:
   * every notification committed before it has been handed to `onNotification`. 0 before the first
   * connection. It stops advancing while the connection is down or silent.
   */
  confirmedAt(): number;
  /** True while LISTEN is in place on a live connection (as far as the last round trip shows). */
  connected(): boolean;
  stop(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Keeps one dedicated connection LISTENing on a channel: reconnects with backoff when it drops,
 * and proves every `heartbeatMs` that it is alive with `select 1`. PostgreSQL delivers a
 * notification before the answer to any command that follows its commit, so an answered
 * round trip sent at time T means every change committed before T has been seen; a half-open
 * TCP connection, which raises no error, shows as `confirmedAt()` no longer advancing.
 */
export function startPgListener(opts: PgListenerOptions): PgListener {
  if (!IDENTIFIER.test(opts.channel)) throw new Error(`invalid channel name: ${opts.channel}`);
  const heartbeatMs = opts.heartbeatMs ?? 250;
  const heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 3000;
  const backoff = opts.backoffMs ?? { first: 100, max: 5000 };
  const log = opts.log.child({ listener: opts.channel });
  let client: Client | undefined;
  let confirmed = 0;
  let failures = 0;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let connecting: Promise<void> | undefined;

  const drop = (c: Client, reason: string) => {
    if (client !== c) return; // Already dropped (an error is often followed by 'end').
    client = undefined;
    clearTimeout(heartbeatTimer);
    c.removeAllListeners('notification');
    // A dead socket may never answer a Terminate message: do not wait for it.
    c.end().catch(() => undefined);
    if (stopped) return;
    log.warn('LISTEN connection lost; reconnecting', { reason });
    schedule();
  };

  const schedule = () => {
    const delay = Math.min(backoff.max, backoff.first * 2 ** failures);
    failures++;
    retryTimer = setTimeout(() => void (connecting = connect()), delay * (0.5 + Math.random() / 2));
  };

  const connect = async () => {
    if (stopped) return;
    const c = new Client({
      connectionString: opts.url,
      application_name: opts.applicationName ?? `alluse-listen-${opts.channel}`,
      connectionTimeoutMillis: heartbeatTimeoutMs,
      keepAlive: true,
      // A half-open connection dropped after a missed heartbeat is closed by TCP within seconds, not the OS's default hours.
      keepAliveInitialDelayMillis: 5_000,
    });
    c.on('error', (err) => drop(c, err.message));
    c.on('end', () => drop(c, 'connection closed'));
    c.on('notification', (n) => {
      if (n.channel === opts.channel) opts.onNotification(n.payload ?? '');
    });
    try {
      await c.connect();
      const sentAt = Date.now();
      await withTimeout(c.query(`listen ${opts.channel}`), heartbeatTimeoutMs);
      if (stopped) return void c.end().catch(() => undefined);
      opts.onListening();
      client = c;
      failures = 0;
      confirmed = sentAt;
      log.info('listening', { channel: opts.channel });
      heartbeatTimer = setTimeout(() => void heartbeat(c), heartbeatMs);
    } catch (err) {
      c.removeAllListeners('notification');
      c.end().catch(() => undefined);
      if (stopped) return;
      if (failures === 0) log.warn('LISTEN connection failed; retrying with backoff', { error: (err as Error).message });
      schedule();
    }
  };

  const heartbeat = async (c: Client) => {
    const sentAt = Date.now();
    try {
      await withTimeout(c.query('select 1'), heartbeatTimeoutMs);
    } catch (err) {
      return drop(c, `heartbeat: ${(err as Error).message}`);
    }
    if (client !== c) return;
    confirmed = sentAt;
    heartbeatTimer = setTimeout(() => void heartbeat(c), heartbeatMs);
  };

  connecting = connect();
  return {
    confirmedAt: () => confirmed,
    connected: () => client !== undefined && Date.now() - confirmed < heartbeatMs + heartbeatTimeoutMs,
    stop: async () => {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(heartbeatTimer);
      await connecting;
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners('notification');
        await c.end().catch(() => undefined);
      }
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
