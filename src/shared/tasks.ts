import type { OperationType } from './operations';

/**
 * Tasks a person decides inside an operation (docs/domain.md section 8):
 * approvals and manual broker steps. Workflow-safe: types, the signal, and
 * pure helpers only.
 */
export type TaskKind = 'approval' | 'broker';
export type TaskStatus = 'open' | 'done' | 'expired' | 'cancelled';
export type TaskDecision = 'approve' | 'reject' | 'done' | 'failed';

/** Which decisions fit which kind of task. */
export const DECISIONS: Record<TaskKind, readonly TaskDecision[]> = { approval: ['approve', 'reject'], broker: ['done', 'failed'] };

/** What an operation needs to know about its portfolio's operator settings, read once when it starts. */
export interface OperationSetup {
  approval: boolean;
  broker: 'paper' | 'manual';
  approvalTimeoutHours: number;
  reminderHours: number;
}

/** A broker step for a person: exact instructions are rendered from it. */
export type BrokerAction =
  | { action: 'open-accounts'; accountIds: { id: string; type: string }[] }
  | { action: 'close-accounts'; accountIds: { id: string; type: string }[] }
  | { action: 'transfer'; fromAccountId: string; toAccountId: string; amount: string; reversal?: boolean }
  | { action: 'buy'; accountId: string; contracts: string; leaps: string }
  | { action: 'sell'; accountId: string; contracts: string; leaps: string }
  | { action: 'close-positions'; positions: { accountId: string; amount: string }[] }
  | { action: 'reopen-positions'; positions: { accountId: string; amount: string }[] };

export interface OpenTaskRequest {
  operationId: string;
  runId: string;
  /** Unique within the operation: the same key opens the same task (retries and replays open nothing new). */
  taskKey: string;
  portfolioId: string;
  operationType: OperationType;
  kind: TaskKind;
  /** Approvals: the plan shown to the approver. */
  plan?: Record<string, unknown>;
  /** Broker tasks: what to do at the broker. */
  broker?: BrokerAction;
  /** Why this task exists when it is a retry or a compensation ("the transfer was reported failed"). */
  context?: string;
  dueInHours: number;
}

/** A task as the workflow sees it (decisions recorded in PostgreSQL are the truth). */
export interface TaskState {
  id: string;
  status: TaskStatus;
  decision?: TaskDecision;
  brokerReference?: string;
  note?: string;
  decidedBy?: string;
  createdAt: string;
  dueAt: string;
}


/** Failure types an operation ends with when a person stops it. */
export const REJECTED = 'Rejected';
export const EXPIRED = 'Expired';

/** "25000.51" → "$25,000.51" (exact: string digits only). */
export function dollars(amount: string): string {
  const [int, frac = '00'] = amount.replace(/^-/, '').split('.');
  return `${amount.startsWith('-') ? '-' : ''}$${int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac.padEnd(2, '0')}`;
}

const TYPE_LABEL: Record<string, string> = { gen: 'Gen-Acc', rev: 'Rev-Acc', com: 'Com-Acc' };
const label = (a: { id: string; type: string }) => `${TYPE_LABEL[a.type] ?? a.type} ${a.id}`;

export interface TaskText {
  title: string;
  instructions: string;
  amount?: string;
  fromAccountId?: string;
  toAccountId?: string;
}

/** The exact words a person reads: what to do, where, how much, and what to report back. */
export function describeTask(req: Pick<OpenTaskRequest, 'kind' | 'operationType' | 'plan' | 'broker' | 'context' | 'operationId'>): TaskText {
  const why = req.context ? ` ${req.context}` : '';
  if (req.kind === 'approval') {
    return {
      title: `Approve the ${req.operationType} ${req.operationId}`,
      instructions: `Review the plan and decide "approve" (the ${req.operationType} runs as of that moment, after its eligibility is checked again) or "reject" (it ends cancelled; nothing moves).${why}`,
    };
  }
  const b = req.broker!;
  const report = ' Then report "done" with the broker\'s reference, or "failed" if the broker refused.';
  switch (b.action) {
    case 'open-accounts':
      return { title: `Open ${b.accountIds.length} account(s) at the broker`, instructions: `Open a broker account for each of: ${b.accountIds.map(label).join(', ')}.${why}${report}` };
    case 'close-accounts':
      return { title: `Close ${b.accountIds.length} account(s) at the broker`, instructions: `Close the broker accounts opened for: ${b.accountIds.map(label).join(', ')} (they hold no money).${why}${report}` };
    case 'transfer':
      return {
        title: `${b.reversal ? 'Transfer back' : 'Transfer'} ${dollars(b.amount)}`,
        instructions: `Transfer ${dollars(b.amount)} ${b.reversal ? 'back ' : ''}from the broker account of ${b.fromAccountId} to the broker account of ${b.toAccountId}.${why}${report}`,
        amount: b.amount, fromAccountId: b.fromAccountId, toAccountId: b.toAccountId,
      };
    case 'buy':
    case 'sell':
      return {
        title: `${b.action === 'buy' ? 'Buy' : 'Sell'} ${dollars(b.contracts)} of option contracts and ${dollars(b.leaps)} of LEAPS`,
        instructions: `In the broker account of ${b.accountId}, ${b.action === 'buy' ? 'buy' : 'sell back what was bought:'} option contracts for ${dollars(b.contracts)} and LEAPS for ${dollars(b.leaps)}.${why}${report}`,
        fromAccountId: b.accountId,
      };
    case 'close-positions':
    case 'reopen-positions':
      return {
        title: `${b.action === 'close-positions' ? 'Close' : 'Reopen'} the option positions of ${b.positions.length} account(s)`,
        instructions: `${b.action === 'close-positions' ? 'Close all option positions' : 'Reopen the option positions closed'} in: ${b.positions.map((p) => `${p.accountId} (${dollars(p.amount)})`).join(', ')}.${why}${report}`,
      };
  }
}
