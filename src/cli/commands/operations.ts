import { type Command, Option } from 'commander';
import type { Schemas } from '../../client';
import { id, positiveInt, resolvePortfolio, seconds } from '../args';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { finish, follow } from '../follow';
import { money, statusColor, time } from '../output';
import type { ContextOf } from './shared';

type Started = Schemas['OperationStarted'];

interface StartOptions {
  dryRun?: boolean;
  wait: boolean;
  timeout?: number;
  reason?: string;
}

/** The options fork, merge and reinvest share. */
function startOptions(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'print the plan (or why it is not eligible: exit 5) and start nothing')
    .option('--no-wait', 'start it and print its operation id without following it')
    .option('--timeout <seconds>', 'stop following after this long (exit 7; the operation goes on)', seconds);
}

export function operationCommands(program: Command, ctxOf: ContextOf): void {
  startOptions(program.command('fork').description("fork a Gen-Acc: its surplus opens a new unit (Gen-Acc + Com-Acc)")
    .argument('<account>', 'the Gen-Acc id', id('an account'))
    .option('--reason <text>', 'why (recorded with the fork)'))
    .action(async (accountId: string, o: StartOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const hints = { 404: `no account ${accountId}`, ...startHints(o, 'fork') };
      const started = await ctx.call(ctx.api.POST('/v1/accounts/{id}/fork', { params: { path: { id: accountId } }, body: { dryRun: o.dryRun, ...(o.reason && { reason: o.reason }) } }), hints);
      await afterStart(ctx, started, o, (plan) => forkPlanLines(plan));
    });

  startOptions(program.command('merge').description("merge a forked unit into its nearest active ancestor's Com-Acc")
    .argument('<unit>', 'the forked unit id', id('a unit'))
    .option('--reason <text>', 'why (recorded with the merge)'))
    .action(async (unitId: string, o: StartOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const hints = { 404: `no unit ${unitId}`, ...startHints(o, 'merge') };
      const started = await ctx.call(ctx.api.POST('/v1/units/{id}/merge', { params: { path: { id: unitId } }, body: { dryRun: o.dryRun, ...(o.reason && { reason: o.reason }) } }), hints);
      await afterStart(ctx, started, o, (plan) => mergePlanLines(plan));
    });

  startOptions(program.command('reinvest').description("reinvest a Rev-Acc's or Com-Acc's cash above the buffer for a quarter")
    .argument('<account>', 'the Rev-Acc or Com-Acc id', id('an account'))
    .option('--quarter <quarter>', 'e.g. 2026Q3 (default: the last closed quarter)')
    .addOption(new Option('--strategy <strategy>', 'override the portfolio setting').choices(['standard', 'aggressive', 'conservative', 'balanced', 'dynamic'])))
    .action(async (accountId: string, o: StartOptions & { quarter?: string; strategy?: Schemas['Settings']['reinvestmentStrategy'] }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (o.quarter && !/^\d{4}Q[1-4]$/.test(o.quarter)) throw new CliError(`--quarter "${o.quarter}" is not a quarter`, EXIT.usage, ['write it like 2026Q3']);
      const body = { dryRun: o.dryRun, ...(o.quarter && { quarter: o.quarter }), ...(o.strategy && { strategy: o.strategy }) };
      const hints = { 404: `no account ${accountId}`, ...startHints(o, 'reinvestment') };
      const started = await ctx.call(ctx.api.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: accountId } }, body }), hints);
      await afterStart(ctx, started, o, (plan) => reinvestPlanLines(plan));
    });

  program
    .command('watch')
    .description('follow an operation: its steps as they settle, until it ends (exit 6 unless it completed)')
    .argument('<operation>', 'operation id, e.g. fork-<accountId>-1')
    .option('--timeout <seconds>', 'give up after this long (exit 7; the operation goes on)', seconds)
    .action(async (operationId: string, o: { timeout?: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (!ctx.out.json) ctx.out.line(`Following ${operationId}`);
      finish(ctx, await follow(ctx, operationId, { timeoutSeconds: o.timeout }));
    });

  program
    .command('ops')
    .description('list operations (forks, merges, reinvestments, scans, imports), newest first')
    .option('--portfolio <portfolio>', 'only this portfolio (id, name or id prefix)')
    .addOption(new Option('--type <type>', 'only this kind').choices(['fork', 'merge', 'reinvestment', 'scan', 'import']))
    .addOption(new Option('--status <status>', 'only this status (waiting: on a person)').choices(['running', 'waiting', 'completed', 'failed', 'compensated', 'cancelled', 'expired']))
    .option('--limit <n>', 'at most this many (1-100)', positiveInt, 20)
    .action(async (o: { portfolio?: string; type?: 'fork'; status?: 'running'; limit: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const portfolioId = o.portfolio ? await resolvePortfolio(ctx, o.portfolio) : undefined;
      const query = { limit: Math.min(o.limit, 100), ...(portfolioId && { portfolioId }), ...(o.type && { type: o.type }), ...(o.status && { status: o.status }) };
      const list = await ctx.call(ctx.api.GET('/v1/operations', { params: { query } }));
      ctx.out.emit(list, () => {
        if (!list.items.length) return ctx.out.line('No operations.');
        ctx.out.table(
          [{ title: 'OPERATION' }, { title: 'TYPE' }, { title: 'STATUS' }, { title: 'STARTED' }, { title: 'ENDED' }, { title: 'STEPS', align: 'right' }],
          list.items.map((op) => [op.operationId, op.type, statusColor(ctx.out.c, op.status), time(op.startedAt), time(op.closedAt), String(op.steps.length)]),
        );
      });
    });

  program
    .command('cancel')
    .description('cancel a running or waiting operation: it compensates and ends cancelled (exit 6 if it ended otherwise, e.g. completed first)')
    .argument('<operation>', 'operation id')
    .option('--no-wait', 'do not follow it to its end')
    .option('--timeout <seconds>', 'stop following after this long (exit 7; the cancellation goes on)', seconds)
    .action(async (operationId: string, o: { wait: boolean; timeout?: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const res = await ctx.call(ctx.api.POST('/v1/operations/{operationId}/cancel', { params: { path: { operationId } } }), { 404: `no operation ${operationId}` });
      if (!o.wait) return ctx.out.emit(res, () => ctx.out.line(`Cancelling ${operationId}: follow it with \`alluse watch ${operationId}\`.`));
      const op = await follow(ctx, operationId, { timeoutSeconds: o.timeout, answered: true });
      if (ctx.out.json) ctx.out.document(op);
      else ctx.out.line(`${operationId} ${statusColor(ctx.out.c, op.status)}${op.error ? `: ${op.error.message}` : ''}`);
      cancelOutcome(op);
    });
}

/** A dry run prints its plan (exit 5 when not eligible); a start follows the operation unless --no-wait. */
async function afterStart(ctx: Context, answer: unknown, o: StartOptions, planLines: (plan: DryRun) => string[]): Promise<void> {
  const { out } = ctx;
  if (o.dryRun) {
    const plan = answer as DryRun;
    out.emit(plan, () => {
      out.line(plan.eligible ? `Eligible. The plan:` : `Not eligible:`);
      if (!plan.eligible) for (const r of plan.reasons) out.line(`  - ${r}`);
      else for (const line of planLines(plan)) out.line(`  ${line}`);
    });
    if (!plan.eligible) throw new CliError('not eligible: nothing was started', EXIT.refused, [], out.json ? plan.reasons : []);
    return;
  }
  const started = answer as Started;
  if (!o.wait) {
    return out.emit(started, () => out.line(`Started ${started.operationId}: follow it with \`alluse watch ${started.operationId}\`.`));
  }
  if (!out.json) out.line(`Started ${started.operationId}`);
  finish(ctx, await follow(ctx, started.operationId, { timeoutSeconds: o.timeout, answered: true }));
}

/** A start is not idempotent: with no answer, the user must look before starting it again. */
function startHints(o: StartOptions, type: 'fork' | 'merge' | 'reinvestment'): { unsure?: string } {
  if (o.dryRun) return {};
  return { unsure: `it may have started: check \`alluse ops --type ${type}\` before starting it again` };
}

/**
 * A cancel succeeded when the operation ended cancelled or compensated
 * (everything it had done undone). It can lose the race: the operation may
 * complete (or fail) before the cancellation reaches it. Exit 6 then.
 */
function cancelOutcome(op: Schemas['Operation']): void {
  if (op.status === 'cancelled' || op.status === 'compensated') return;
  if (op.status === 'completed') {
    throw new CliError(`${op.operationId} completed before the cancellation reached it: nothing was undone`, EXIT.notCompleted, [
      `what it did stands: \`alluse watch ${op.operationId}\` shows it`,
    ]);
  }
  throw new CliError(`${op.operationId} ended ${op.status}, not cancelled${op.error ? `: ${op.error.message}` : ''}`, EXIT.notCompleted);
}

interface DryRun {
  eligible: boolean;
  reasons: string[];
  plan?: Record<string, unknown>;
  [field: string]: unknown;
}

const m = (v: unknown) => money(v as string);

function forkPlanLines(d: DryRun): string[] {
  const p = d.plan ?? {};
  const lines = [
    `surplus      ${m(d.surplus).padStart(14)}`,
    `retained     ${m(p.retained).padStart(14)}  (stays in the Gen-Acc)`,
    `fork amount  ${m(p.forkAmount).padStart(14)}  (leaves the Gen-Acc)`,
    `new Gen-Acc  ${m(p.childGen).padStart(14)}`,
    `new Com-Acc  ${m(p.childCom).padStart(14)}`,
  ];
  const impact = d.predictedImpact as { horizonYears: number; withFork: { total: string }; withoutFork: { total: string }; difference: string } | undefined;
  if (impact) {
    lines.push(`in ${impact.horizonYears} years (projected): ${m(impact.withFork.total)} with this fork, ${m(impact.withoutFork.total)} without, difference ${m(impact.difference)}`);
  } else if (d.predictedImpactUnavailable) lines.push(`predicted impact unavailable: ${String(d.predictedImpactUnavailable)}`);
  return lines;
}

function mergePlanLines(d: DryRun): string[] {
  const sources = (d.plan?.sources ?? []) as { accountId: string; type: string; amount: string; closePositions: string; reserve: string }[];
  return [
    `total ${m(d.total)} moves to the nearest active ancestor's Com-Acc`,
    ...sources.map((s) => `${s.type.padEnd(4)} ${s.accountId}  ${m(s.amount).padStart(14)}  (closes positions ${m(s.closePositions)}, reserve ${m(s.reserve)})`),
  ];
}

function reinvestPlanLines(d: DryRun): string[] {
  const p = d.plan ?? {};
  if (p.skipped) return [`${String(d.quarter)}: would be skipped, reinvestable ${m(p.reinvestable)} is below the minimum`];
  return [
    `quarter       ${String(d.quarter)}`,
    `strategy      ${String(p.strategy)}${p.regime ? ` (${String(p.regime)})` : ''}`,
    `reinvestable  ${m(p.reinvestable).padStart(14)}`,
    `to contracts  ${m(p.contracts).padStart(14)}`,
    `to LEAPS      ${m(p.leaps).padStart(14)}`,
    `to reserve    ${m(p.reserve).padStart(14)}`,
  ];
}
