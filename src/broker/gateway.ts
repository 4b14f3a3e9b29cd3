/**
 * The steps that happen outside our database. Every call is idempotent by
 * `key`; every undo is idempotent too and, when the forward call never
 * happened, voids the key so a late forward call is refused.
 */
export interface BrokerGateway {
  openAccount(req: { key: string; accountId: string }): Promise<{ brokerRef: string }>;
  closeAccount(req: { key: string; accountId: string }): Promise<void>;
  transferCash(req: { key: string; fromAccountId: string; toAccountId: string; amount: string }): Promise<void>;
  reverseTransfer(req: { key: string }): Promise<void>;
  placeOrder(req: { key: string; accountId: string; kind: 'close_positions' | 'buy'; amount: string }): Promise<void>;
  reverseOrder(req: { key: string }): Promise<void>;
}

/** A broker outage: retryable (infrastructure), unlike business rejections. */
export class BrokerUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerUnavailable';
  }
}
