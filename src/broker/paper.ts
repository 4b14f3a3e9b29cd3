import type { MikroORM } from '@mikro-orm/postgresql';
import { DomainError } from '../domain/errors';
import { type BrokerWeather, brokerWeather } from '../infra/knobs';
import { type BrokerGateway, BrokerUnavailable } from './gateway';

export interface PaperBrokerOptions {
  /** Added to every call. */
  latencyMs: number;
  /** Share of calls (0..1) that fail with BrokerUnavailable. */
  failureRate: number;
  /** Share of calls (0..1) that hang for `hangMs` (past the activity timeout). */
  timeoutRate: number;
  hangMs: number;
  /** Chaos runs: a JSON file of rates that replaces failureRate and timeoutRate while it exists, re-read as it changes. */
  weatherFile?: string;
  random?: () => number;
}

export const defaultPaperBrokerOptions: PaperBrokerOptions = { latencyMs: 0, failureRate: 0, timeoutRate: 0, hangMs: 15_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A broker simulated in PostgreSQL, for development, tests and the demo.
 * Faults come from the options (random) or from `paper_broker_faults` (the
 * next N calls of one operation), so failures can be produced on purpose.
 */
export class PaperBroker implements BrokerGateway {
  private readonly random: () => number;
  private readonly rates: () => BrokerWeather;

  constructor(
    private readonly orm: MikroORM,
    private readonly opts: PaperBrokerOptions = defaultPaperBrokerOptions,
  ) {
    this.random = opts.random ?? Math.random;
    const fixed = { failureRate: opts.failureRate, timeoutRate: opts.timeoutRate };
    this.rates = opts.weatherFile ? brokerWeather(opts.weatherFile) : () => fixed;
  }

  async openAccount(req: { key: string; accountId: string }): Promise<{ brokerRef: string }> {
    await this.weather('openAccount');
    const em = this.orm.em.fork();
    const brokerRef = `PAPER-${req.accountId.slice(-12).toUpperCase()}`;
    await em.execute(
      `insert into broker_accounts (account_id, broker_ref, status) values (?, ?, 'open') on conflict (account_id) do nothing`,
      [req.accountId, brokerRef],
    );
    const [row] = await em.execute<{ status: string }[]>('select status from broker_accounts where account_id = ?', [req.accountId]);
    if (row?.status !== 'open') throw new DomainError('Compensated', 'this broker account was already closed', { key: req.key });
    return { brokerRef };
  }

  async closeAccount(req: { key: string; accountId: string }): Promise<void> {
    await this.weather('closeAccount');
    // Closing an account that was never opened leaves it closed, so a late open is refused.
    await this.orm.em.fork().execute(
      `insert into broker_accounts (account_id, broker_ref, status, closed_at) values (?, ?, 'closed', now())
       on conflict (account_id) do update set status = 'closed', closed_at = now() where broker_accounts.status = 'open'`,
      [req.accountId, `PAPER-${req.accountId.slice(-12).toUpperCase()}`],
    );
  }

  async transferCash(req: { key: string; fromAccountId: string; toAccountId: string; amount: string }): Promise<void> {
    await this.weather('transferCash');
    const em = this.orm.em.fork();
    await em.execute(
      `insert into broker_transfers (idempotency_key, from_account_id, to_account_id, amount, status)
       values (?, ?, ?, ?, 'settled') on conflict (idempotency_key) do nothing`,
      [req.key, req.fromAccountId, req.toAccountId, req.amount],
    );
    const [row] = await em.execute<{ status: string }[]>('select status from broker_transfers where idempotency_key = ?', [req.key]);
    if (row?.status !== 'settled') throw new DomainError('Compensated', 'this transfer was already undone', { key: req.key });
  }

  async reverseTransfer(req: { key: string }): Promise<void> {
    await this.weather('reverseTransfer');
    await this.orm.em.fork().execute(
      `insert into broker_transfers (idempotency_key, status) values (?, 'voided')
       on conflict (idempotency_key) do update set status = 'reversed', reversed_at = now() where broker_transfers.status = 'settled'`,
      [req.key],
    );
  }

  async placeOrder(req: { key: string; accountId: string; kind: 'close_positions' | 'buy'; amount: string }): Promise<void> {
    await this.weather('placeOrder');
    const em = this.orm.em.fork();
    await em.execute(
      `insert into broker_orders (idempotency_key, account_id, kind, amount, status) values (?, ?, ?, ?, 'filled')
       on conflict (idempotency_key) do nothing`,
      [req.key, req.accountId, req.kind, req.amount],
    );
    const [row] = await em.execute<{ status: string }[]>('select status from broker_orders where idempotency_key = ?', [req.key]);
    if (row?.status !== 'filled') throw new DomainError('Compensated', 'this order was already undone', { key: req.key });
  }

  async reverseOrder(req: { key: string }): Promise<void> {
    await this.weather('reverseOrder');
    await this.orm.em.fork().execute(
      `insert into broker_orders (idempotency_key, status) values (?, 'voided')
       on conflict (idempotency_key) do update set status = 'reversed', reversed_at = now() where broker_orders.status = 'filled'`,
      [req.key],
    );
  }

  /** Latency and faults, configured or injected. */
  private async weather(operation: string): Promise<void> {
    if (this.opts.latencyMs > 0) await sleep(this.opts.latencyMs);
    const [injected] = await this.orm.em.fork().execute<{ mode: string }[]>(
      `update paper_broker_faults set remaining = remaining - 1 where operation = ? and remaining > 0 returning mode`,
      [operation],
    );
    const roll = this.random();
    const { failureRate, timeoutRate } = this.rates();
    if (injected?.mode === 'timeout' || (!injected && roll < timeoutRate)) {
      await sleep(this.opts.hangMs);
      throw new BrokerUnavailable(`paper broker: ${operation} timed out`);
    }
    if (injected?.mode === 'reject') throw new DomainError('BrokerRejected', `paper broker rejected ${operation}`);
    if (injected?.mode === 'error' || (!injected && roll < timeoutRate + failureRate)) {
      throw new BrokerUnavailable(`paper broker: ${operation} failed`);
    }
  }
}

/**
 * Makes the next `count` calls of `operation` fail (tests, chaos runs, demos):
 * `error` is an outage (retried), `timeout` hangs past the step's timeout
 * (retried), `reject` is the broker refusing the request (not retried).
 */
export async function injectBrokerFault(orm: MikroORM, operation: string, count: number, mode: 'error' | 'timeout' | 'reject' = 'error'): Promise<void> {
  await orm.em.fork().execute(
    `insert into paper_broker_faults (operation, mode, remaining) values (?, ?, ?)
     on conflict (operation) do update set mode = excluded.mode, remaining = excluded.remaining`,
    [operation, mode, count],
  );
}
