/**
 * Following an operation until it ends: each step is printed when it
 * settles (completed, failed, compensating, compensated), open tasks are
 * announced with the command that decides them, and on a terminal a live
 * line shows the step in progress. Ends with the final status; exit 6 when
 * it did not complete, 7 when --timeout ran out first (or the engine stayed
 * unreachable: poll.ts backs off and retries).
 */
import type { Schemas } from '../client';
import type { Context } from './context';
import { CliError, EXIT } from './exit-codes';
import { money, statusColor } from './output';
import { Poller } from './poll';
import { progressEnabled, startProgress } from './progress';

type Operation = Schemas['Operation'];

export const ENDED = new Set(['completed', 'compensated', 'failed', 'cancelled', 'expired']);

export interface FollowOptions {
  timeoutSeconds?: number;
  /** Called right after a request the engine answered (a start, a cancel): retry transient failures from the first poll. */
  answered?: boolean;
}

export async function follow(ctx: Context, operationId: string, opts: FollowOptions = {}): Promise<Operation> {
  const { out } = ctx;
  const { c } = out;
  const seen = new Map<string, string>();
  const announced = new Set<string>();
  const resume = `alluse watch ${operationId}`;
  const poll = new Poller(ctx, { timeoutSeconds: opts.timeoutSeconds, answered: opts.answered, what: operationId, resume });
  const progress = startProgress(progressEnabled(out.json), (line) => out.line(line));
  // Ctrl-C stops following, not the operation: say so, and how to pick it up again.
  const onInterrupt = () => {
    progress.stop();
    process.stderr.write(`\nstopped following ${operationId}; it goes on in the engine: \`${resume}\`\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  let last: Operation | undefined;
  try {
    for (;;) {
      const op = await poll.fetch((api) => api.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }), { 404: `no operation ${operationId}` },
        (why) => progress.update(`${operationId} ${last?.status ?? ''}: ${why}; retrying (${poll.elapsedSeconds.toFixed(0)} s)`));
      let changed = false;
      if (op) {
        changed = op.status !== last?.status;
        last = op;
        for (const step of op.steps) {
          if (seen.get(step.name) === step.status) continue;
          changed = true;
          seen.set(step.name, step.status);
          if (step.status !== 'running') progress.log(`  ${mark(ctx, step.status)} ${step.name.padEnd(24)} ${statusColor(c, step.status)}`);
        }
        for (const task of op.tasks ?? []) {
          if (task.status !== 'open' || announced.has(task.id)) continue;
          changed = true;
          announced.add(task.id);
          const how = task.kind === 'approval' ? 'approve|reject' : 'done --reference <ref>|failed';
          progress.log(`  ${c.yellow('?')} waiting on task ${task.id}: ${task.title}\n    decide it: \`alluse decide ${task.id} ${how}\``);
        }
        if (ENDED.has(op.status)) return op;
        const current = op.steps.find((s) => s.status === 'running')?.name;
        progress.update(`${operationId} ${op.status}${current ? `: ${current}` : ''} (${poll.elapsedSeconds.toFixed(0)} s)`);
      }
      if (poll.timedOut) {
        // With --json the last state seen is the document: a script still learns where it stood.
        throw new CliError(`${operationId} is still ${last?.status ?? 'unknown'} after ${opts.timeoutSeconds} s`, EXIT.unreachable,
          [`it goes on in the engine; follow it with \`${resume}\``], [], last);
      }
      await poll.pause(changed);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    progress.stop();
  }
}

/** The end of a followed operation: its document with --json, else a summary; exit 6 unless it completed. */
export function finish(ctx: Context, op: Operation): void {
  const { out } = ctx;
  const { c } = out;
  if (out.json) out.document(op);
  else {
    const took = op.closedAt ? ` in ${((Date.parse(op.closedAt) - Date.parse(op.startedAt)) / 1000).toFixed(1)} s` : '';
    out.line(`${op.operationId} ${statusColor(c, op.status)}${took}`);
    for (const line of summaryLines(op)) out.line(`  ${line}`);
  }
  if (op.status !== 'completed') {
    throw new CliError(`${op.operationId} ended ${op.status}${op.error ? `: ${op.error.message}` : ''}`, EXIT.notCompleted,
      op.status === 'compensated' ? ['every step it had done was undone; the ledger is net zero for it'] : []);
  }
}

function summaryLines(op: Operation): string[] {
  const result = op.result as { status?: string; summary?: Record<string, unknown> } | undefined;
  const s = result?.summary;
  if (!s) return [];
  const m = (k: string) => money(s[k] as string);
  switch (op.type) {
    case 'fork':
      return [
        `forked ${m('forkAmount')} (retained ${m('retained')}) into unit ${String(s.newUnitId)}`,
        `new Gen-Acc ${String(s.newGenAccountId)}  ${m('childGen')}`,
        `new Com-Acc ${String(s.newComAccountId)}  ${m('childCom')}`,
      ];
    case 'merge':
      return [`moved ${m('total')} into Com-Acc ${String(s.targetAccountId)} (unit ${String(s.targetUnitId)})`];
    case 'reinvestment':
      return result?.status === 'skipped'
        ? [`skipped: ${String(s.reason)}`]
        : [`${String(s.quarter)} ${String(s.strategy)}: reinvested ${m('reinvestable')} → contracts ${m('contracts')}, leaps ${m('leaps')}, reserve ${m('reserve')}`];
    default:
      return [];
  }
}

function mark(ctx: Context, status: string): string {
  const { c } = ctx.out;
  if (status === 'completed') return c.green('✓');
  if (status === 'failed') return c.red('✗');
  return c.yellow('↺');
}
