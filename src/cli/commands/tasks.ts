import { Argument, type Command, Option } from 'commander';
import { id, positiveInt, resolvePortfolio } from '../args';
import { usage } from '../exit-codes';
import { money, statusColor, time } from '../output';
import type { ContextOf } from './shared';

type Decision = 'approve' | 'reject' | 'done' | 'failed';

export function taskCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('tasks')
    .description('tasks for people: approvals and manual broker steps (open ones by default)')
    .option('--portfolio <portfolio>', 'only this portfolio (id, name or id prefix)')
    .addOption(new Option('--status <status>', 'which ones').choices(['open', 'done', 'expired', 'cancelled', 'all']).default('open'))
    .addOption(new Option('--kind <kind>').choices(['approval', 'broker']))
    .option('--limit <n>', 'at most this many (1-500)', positiveInt, 50)
    .action(async (o: { portfolio?: string; status: 'open' | 'all'; kind?: 'approval' | 'broker'; limit: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const portfolioId = o.portfolio ? await resolvePortfolio(ctx, o.portfolio) : undefined;
      const query = {
        limit: Math.min(o.limit, 500), ...(portfolioId && { portfolioId }), ...(o.kind && { kind: o.kind }), ...(o.status !== 'all' && { status: o.status }),
      };
      const list = await ctx.call(ctx.api.GET('/v1/tasks', { params: { query } }));
      ctx.out.emit(list, () => {
        if (!list.items.length) return ctx.out.line(o.status === 'open' ? 'No open tasks.' : 'No tasks.');
        ctx.out.table(
          [{ title: 'TASK' }, { title: 'KIND' }, { title: 'STATUS' }, { title: 'TITLE' }, { title: 'AMOUNT', align: 'right' }, { title: 'OPERATION' }, { title: 'DUE' }],
          list.items.map((t) => [t.id, t.kind, statusColor(ctx.out.c, t.status), t.title, t.amount ? money(t.amount) : '', t.operationId, time(t.dueAt)]),
        );
        if (list.items.some((t) => t.status === 'open')) {
          ctx.out.line();
          ctx.out.line('Decide one with `alluse decide <task> approve|reject` (approvals) or `alluse decide <task> done --reference <ref>|failed` (broker steps).');
        }
      });
    });

  program
    .command('decide')
    .description('decide a task: approve or reject an approval; report a broker step done (with --reference) or failed')
    .argument('<task>', 'task id', id('a task'))
    .addArgument(new Argument('<decision>').choices(['approve', 'reject', 'done', 'failed']))
    .option('--reference <ref>', "the broker's reference (required with done)")
    .option('--note <text>', 'a note kept with the decision')
    .action(async (taskId: string, decision: Decision, o: { reference?: string; note?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      if (decision === 'done' && !o.reference) throw usage('a broker step reported done needs the broker\'s reference', 'add --reference <ref>, e.g. the transfer id');
      const body = { decision, ...(o.reference && { brokerReference: o.reference }), ...(o.note && { note: o.note }) };
      const task = await ctx.call(ctx.api.POST('/v1/tasks/{id}/decide', { params: { path: { id: taskId } }, body }), {
        404: `no task ${taskId}`, unsure: `it may have been decided: check \`alluse tasks --status all\` before deciding it again`,
      });
      ctx.out.emit(task, () => {
        ctx.out.line(`Task ${task.id} decided: ${task.decision ?? decision} (${task.title}).`);
        ctx.out.line(`The operation goes on: \`alluse watch ${task.operationId}\`.`);
      });
    });
}
