import { createHash } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { DomainError } from '../domain/errors';
import { pgIso } from '../db/sql';
import type { LedgerService } from '../ledger/ledger';
import { operationAttributes } from '../shared/search-attributes';
import { type ImportInput, importWorkflowId } from '../shared/operations';
import { MalformedStatement, type StatementFormat, parseStatement } from '../statements';
import {
  type ImportLine, type Reconciliation, type Valuation, countLines, mapStatement, portfolioForPosting, postLines, reconcile, settle, storeLines,
} from './import-lines';

export interface ImportOptions {
  format: StatementFormat;
  dryRun: boolean;
  atomic: boolean;
}

/** What an import did (or, dry run, would do): counts, the lines that post nothing and why, the reconciliation. */
interface ImportOutcome {
  lines: number;
  posted: number;
  duplicates: number;
  rejected: { line: number; reason: string }[];
  ignored: { line: number; reason: string }[];
  reconciliation: Reconciliation[];
  valuations: Valuation[];
}

export interface ImportView extends ImportOutcome {
  id: string;
  portfolioId: string;
  operationId: string;
  format: StatementFormat;
  atomic: boolean;
  status: 'queued' | 'running' | 'completed' | 'failed';
  /** Activity lines not processed yet (progress while running). */
  pending: number;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
}

export interface DryRunView extends ImportOutcome {
  dryRun: true;
  format: StatementFormat;
  atomic: boolean;
  /** What would be posted, line by line (status posted, duplicate, rejected or, atomic, not_posted). */
  items: ImportLine[];
}

/** Thrown to roll a dry run's transaction back, carrying its result. */
class DryRunDone extends Error {
  constructor(readonly view: DryRunView) {
    super('dry run');
  }
}

const problems = (lines: readonly ImportLine[], status: 'rejected' | 'ignored') =>
  lines.filter((l) => l.status === status).map((l) => ({ line: l.line, reason: l.reason! }));

/**
 * Broker statement imports (docs/domain.md section 9). The API parses and
 * maps the file at once (a malformed file is a 400, nothing stored), stores
 * its lines and starts the `importStatement` workflow, which posts them in
 * batches and reconciles. A dry run posts in a transaction it rolls back.
 */
export class ImportService {
  constructor(
    private readonly orm: MikroORM,
    private readonly ledger: LedgerService,
    private readonly client: Client,
    private readonly opts: { taskQueue: string },
  ) {}

  async create(portfolioId: string, text: string, opts: ImportOptions, actor: string): Promise<DryRunView | { importId: string; operationId: string }> {
    const em = this.orm.em.fork();
    const portfolio = await portfolioForPosting(em, portfolioId);
    const parsed = await parseStatement(text, opts.format, { today: new Date().toISOString().slice(0, 10) }).catch((err: unknown) => {
      if (err instanceof MalformedStatement) {
        throw new DomainError('ValidationError', `the file is not a valid ${opts.format} statement: ${err.message}`, { line: err.line });
      }
      throw err;
    });
    const lines = await mapStatement(em, portfolioId, parsed);
    if (opts.dryRun) return this.dryRun(portfolio, lines, parsed.lines, opts, actor);

    const importId = uuidv7();
    const operationId = importWorkflowId(importId);
    const input: ImportInput = { importId, portfolioId, atomic: opts.atomic };
    const sha256 = createHash('sha256').update(text).digest('hex');
    // The run first, then the rows: a stored import always has its run, whose first step waits until the rows are
    // visible. No lock is held during the call (the rows' foreign keys would lock the accounts and the portfolio
    // against the ledger). If the storing fails or the process dies in between, the run gives up after a few
    // minutes and nothing was stored.
    await this.client.workflow.start('importStatement', {
      workflowId: operationId, taskQueue: this.opts.taskQueue, args: [input],
      typedSearchAttributes: operationAttributes('import', { portfolio: portfolioId }),
    });
    await this.orm.em.fork().transactional(async (tx) => {
      await tx.execute(
        `insert into imports (id, portfolio_id, format, atomic, status, file_sha256, actor, operation_id, lines) values (?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
        [importId, portfolioId, opts.format, opts.atomic, sha256, actor, operationId, parsed.lines],
      );
      await storeLines(tx, importId, lines);
      await appendAudit(tx, {
        actor, portfolioId, action: 'import.created', targetType: 'import', targetId: importId,
        details: { format: opts.format, atomic: opts.atomic, sha256, lines: parsed.lines, records: parsed.records.length, operationId },
      });
    });
    return { importId, operationId };
  }

  /** Posts and reconciles inside a transaction, then rolls it back: exactly what a real import would do now. */
  private async dryRun(portfolio: Awaited<ReturnType<typeof portfolioForPosting>>, lines: ImportLine[], total: number, opts: ImportOptions, actor: string): Promise<DryRunView> {
    try {
      await this.orm.em.fork().transactional(async (em) => {
        const pending = lines.filter((l) => l.status === 'pending' && l.kind === 'activity');
        const outcomes = pending.length ? await postLines(em, this.ledger, portfolio, pending, { importId: 'dry-run', actor }) : [];
        const settled = new Map(pending.map((l, i) => [l, settle(l, outcomes[i]!)]));
        let after = lines.map((l) => settled.get(l) ?? l);
        // Atomic: one refused line and nothing would post.
        if (opts.atomic && after.some((l) => l.status === 'rejected')) {
          after = after.map((l) => (l.status === 'rejected' || l.status === 'ignored' || l.kind !== 'activity' ? l
            : { ...l, status: 'not_posted', reason: 'not posted: the atomic import would be refused', entryId: null }));
        }
        const { reconciliation, valuations } = await reconcile(em, after);
        const counts = countLines(after, total);
        throw new DryRunDone({
          dryRun: true, format: opts.format, atomic: opts.atomic, lines: total, posted: counts.posted, duplicates: counts.duplicates,
          rejected: problems(after, 'rejected'), ignored: problems(after, 'ignored'), reconciliation, valuations,
          items: after.filter((l) => l.kind === 'activity' && l.part >= 0),
        });
      });
    } catch (err) {
      if (err instanceof DryRunDone) return err.view;
      throw err;
    }
    throw new Error('unreachable: a dry run always rolls back');
  }

  async get(importId: string): Promise<ImportView> {
    const em = this.orm.em.fork();
    const [row] = await em.execute<ImportRow[]>('select * from imports where id = ?', [importId]);
    if (!row) throw new DomainError('NotFound', 'import not found');
    return this.view(em, row);
  }

  async list(portfolioId: string): Promise<ImportView[]> {
    const em = this.orm.em.fork();
    await portfolioForPosting(em, portfolioId);
    const rows = await em.execute<ImportRow[]>('select * from imports where portfolio_id = ? order by created_at desc limit 100', [portfolioId]);
    return Promise.all(rows.map((r) => this.view(em, r)));
  }

  private async view(em: EntityManager, r: ImportRow): Promise<ImportView> {
    const counts = await em.execute<{ status: string; n: string }[]>(
      `select status, count(*) as n from import_lines where import_id = ? and kind = 'activity' group by status`, [r.id],
    );
    const n = (s: string) => Number(counts.find((c) => c.status === s)?.n ?? 0);
    const listed = await em.execute<{ line: number; reason: string; status: 'rejected' | 'ignored' }[]>(
      `select line, reason, status from import_lines where import_id = ? and status in ('rejected', 'ignored') order by line, part`, [r.id],
    );
    const pick = (s: 'rejected' | 'ignored') => listed.filter((l) => l.status === s).map(({ line, reason }) => ({ line, reason }));
    return {
      id: r.id, portfolioId: r.portfolio_id, operationId: r.operation_id, format: r.format, atomic: r.atomic, status: r.status,
      lines: r.lines, pending: n('pending'), posted: n('posted'), duplicates: n('duplicate'), rejected: pick('rejected'), ignored: pick('ignored'),
      reconciliation: r.reconciliation?.balances ?? [], valuations: r.reconciliation?.valuations ?? [], error: r.error,
      createdAt: pgIso(r.created_at), completedAt: r.completed_at ? pgIso(r.completed_at) : null,
    };
  }
}

interface ImportRow {
  id: string; portfolio_id: string; operation_id: string; format: StatementFormat; atomic: boolean; status: ImportView['status'];
  lines: number; error: string | null; reconciliation: { balances: Reconciliation[]; valuations: Valuation[] } | null;
  created_at: string; completed_at: string | null;
}
