import type { Account, Unit } from '../api';

/** What an operator asked to do from the unit tree; the page opens the matching dialog. */
export type Action =
  | { kind: 'activity'; account: Account; accountName: string }
  | { kind: 'fork'; account: Account; accountName: string }
  | { kind: 'reinvest'; account: Account; accountName: string }
  | { kind: 'merge'; unit: Unit; unitName: string };

export const TERMINAL = new Set(['completed', 'failed', 'compensated', 'cancelled', 'expired']);
