/**
 * Commands, contexts and results shared by the API, the workflows and the
 * activities. Workflow-safe (types and pure helpers only). Amounts are decimal
 * strings whenever they cross Temporal.
 */
export type OperationType = 'fork' | 'merge' | 'reinvestment';
export type ScanKind = 'fork' | 'merge';
export type Trigger = 'scan' | 'manual';

/** A statement import (docs/domain.md section 9): its lines are stored; the workflow posts them. */
export interface ImportInput {
  importId: string;
  portfolioId: string;
  atomic: boolean;
}

export interface ImportResult {
  status: string;
  lines: number;
  posted: number;
  duplicates: number;
  rejected: number;
  ignored: number;
  steps: StepRecord[];
}

/** One batch of an import. */
export interface BatchProgress {
  /** Lines in this batch's window (posted now, or settled before: a retried batch). */
  processed: number;
  /** The `seq` of the last line this batch covered: where the next one starts. */
  cursor: number;
  remaining: number;
  firstLine: number | null;
  lastLine: number | null;
}

export const importWorkflowId = (importId: string) => `import-${importId}`;

export interface StepRecord {
  name: string;
  status: 'running' | 'completed' | 'failed' | 'compensating' | 'compensated';
  at: string;
}

export interface ForkInput {
  accountId: string;
  portfolioId: string;
  seq: number;
  trigger: Trigger;
  actor: string;
  reason?: string;
}

/** One run of a workflow: what an undo registered before the first step knows. */
export interface RunRef {
  workflowId: string;
  runId: string;
}

export interface ForkContext {
  workflowId: string;
  eventId: string;
  portfolioId: string;
  parentAccountId: string;
  parentUnitId: string;
  holdingAccountId: string;
  seq: number;
  attempt: number;
  actor: string;
  newUnitId: string;
  newGenAccountId: string;
  newComAccountId: string;
  surplus: string;
  retained: string;
  forkAmount: string;
  childGen: string;
  childCom: string;
}

export interface MergeInput {
  unitId: string;
  portfolioId: string;
  trigger: Trigger;
  actor: string;
  reason?: string;
  /** The merge cooling period counts from merges completed before this instant (a scan's start), default now. */
  coolingReference?: string;
}

export interface MergeContext {
  workflowId: string;
  eventId: string;
  portfolioId: string;
  unitId: string;
  targetUnitId: string;
  targetAccountId: string;
  attempt: number;
  actor: string;
  /** Runs started before the merge target was decided by the move: keep the target recorded at the start. */
  targetFixed?: boolean;
  /** `reserve` is absent in contexts recorded before reserves moved as reserves. */
  sources: { accountId: string; amount: string; closePositions: string; reserve?: string }[];
  total: string;
}

/** Where a merge's money landed: decided under the locks of the move itself. */
export interface MergeTargetRef {
  targetUnitId: string;
  targetAccountId: string;
}

export interface ReinvestInput {
  accountId: string;
  portfolioId: string;
  quarter: string;
  strategy?: string;
  trigger: Trigger;
  actor: string;
}

export interface ReinvestContext {
  workflowId: string;
  eventId: string;
  portfolioId: string;
  accountId: string;
  quarter: string;
  attempt: number;
  actor: string;
  skipped: boolean;
  reason?: string;
  strategy: string;
  regime?: string;
  reinvestable: string;
  reserve: string;
  contracts: string;
  leaps: string;
  /** Runs started before the allocation computed the amounts: post the planned ones (their broker orders bought those). */
  usePlan?: boolean;
}

/** What a reinvestment's allocation moved (computed under the account's lock), or why it moved nothing. */
export interface ReinvestAllocation {
  skipped: boolean;
  reason?: string;
  reinvestable: string;
  reserve: string;
  contracts: string;
  leaps: string;
}

export interface OperationResult {
  status: 'completed' | 'skipped';
  steps: StepRecord[];
  summary: Record<string, unknown>;
}

/** Business keys: the same operation always gets the same workflow id. */
export const workflowIds = {
  fork: (accountId: string, seq: number) => `fork-${accountId}-${seq}`,
  merge: (unitId: string) => `merge-${unitId}`,
  reinvest: (accountId: string, quarter: string) => `reinvest-${accountId}-${quarter}`,
};

/** Idempotency key of one step's writes: business data plus the attempt, never a random id. */
export const stepKey = (base: string, attempt: number, step: string) => `${base}:a${attempt}:${step}`;

/** The failure type a workflow ends with after compensating. */
export const COMPENSATED = 'Compensated';

export interface ScanInput {
  portfolioId?: string;
  kinds: ScanKind[];
  actor: string;
  /** Where a continued-as-new run picks up. */
  phase?: ScanKind;
  afterId?: string;
  carry?: ScanReport;
}

export interface ScanReport {
  startedAt: string;
  started: { operationId: string; type: OperationType }[];
  skipped: { id: string; type: ScanKind; reason: string }[];
  counts: { forkCandidates: number; mergeCandidates: number; started: number; skipped: number };
}

export interface ForkCandidate {
  accountId: string;
  portfolioId: string;
  unitId: string;
  seq: number;
}

export interface MergeCandidateRef {
  unitId: string;
  portfolioId: string;
}

export interface QuarterlyInput {
  quarter?: string;
  /** The IANA zone whose calendar decides which quarter has closed (the schedule's zone). */
  timeZone?: string;
  portfolioId?: string;
  actor: string;
  afterId?: string;
  carry?: { quarter: string; started: number; skipped: number };
}

export const SCHEDULE_IDS = { scan: 'alluse-threshold-scan', quarterly: 'alluse-quarterly-reinvestment' } as const;

/** Search attribute names (registered at start-up, set on every run). */
export const SEARCH_ATTRIBUTE_NAMES = {
  type: 'AlluseOperationType',
  portfolio: 'AllusePortfolioId',
  account: 'AlluseAccountId',
  unit: 'AlluseUnitId',
  /** `running`, or `waiting` while the operation waits on a person's task. */
  status: 'AlluseOperationStatus',
} as const;
