import { randomUUID } from 'node:crypto';
import { Argument, type Command } from 'commander';
import Decimal from 'decimal.js';
import { ACTIVITY_TYPES } from '../../domain/buckets';
import { amount, id } from '../args';
import { usage } from '../exit-codes';
import { ACCOUNT_LABEL, money } from '../output';
import { forkProgressLine } from './portfolios';
import type { ContextOf } from './shared';

export function activityCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('post')
    .description('record activity on an account (idempotent by --key: the same key posts once)')
    .argument('<account>', 'account id', id('an account'))
    .addArgument(new Argument('<type>', 'what happened').choices(ACTIVITY_TYPES))
    .argument('<amount>', 'a positive amount, e.g. 50001.01', amount)
    .option('--key <key>', 'the Idempotency-Key: name the business event (e.g. 2026-W48-gen) so a retry never posts twice; default: a new random key')
    .option('--at <datetime>', 'when it happened (ISO 8601 with Z or an offset); default now')
    .option('--reference <text>', "the broker's reference")
    .option('--note <text>', 'a note')
    .action(async (accountId: string, type: (typeof ACTIVITY_TYPES)[number], value: string, o: PostOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const key = o.key ?? `cli-${randomUUID()}`;
      if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw usage(`--key "${key}" is not a valid Idempotency-Key`, 'use 1-200 printable ASCII characters without spaces');
      const api = ctx.api;
      // Before sending: should no answer come back, the key is what makes a retry safe (the same key posts once).
      if (!o.key) ctx.out.note(`idempotency key: ${key}`);
      const { data, response } = await ctx.answer(
        api.POST('/v1/accounts/{id}/activity', {
          params: { path: { id: accountId }, header: { 'idempotency-key': key } },
          body: { type, amount: value, ...(o.at && { occurredAt: o.at }), ...(o.reference && { reference: o.reference }), ...(o.note && { note: o.note }) },
        }),
        {
          404: `no account ${accountId}`,
          unsure: `it may have been recorded: check \`alluse account ${accountId}\`, and retry only with \`--key ${key}\` (the same key posts once; a new one would post again)`,
        },
      );
      if (ctx.out.json) return ctx.out.document(data);
      const a = data.account;
      const replayed = response.headers.get('idempotent-replayed') === 'true';
      const label = ACCOUNT_LABEL[a.type] ?? a.type;
      ctx.out.line(replayed
        ? `Already recorded with key ${key}: nothing changed (entry ${data.entryId}).`
        : `Recorded ${type} ${money(value)} on ${label} ${a.id} (key ${key}, entry ${data.entryId}).`);
      ctx.out.line(`${label} balance ${money(a.balance)}, surplus ${money(a.surplus)}, cash ${money(a.buckets.cash)}.`);
      if (a.type !== 'gen' || a.status !== 'active') return;
      // One more read for the threshold: the account does not carry its portfolio's settings.
      const p = await ctx.call(ctx.api.GET('/v1/portfolios/{id}', { params: { path: { id: a.portfolioId } } }));
      ctx.out.line(forkProgressLine(a.surplus, p.settings.forkThreshold, ctx.out.tty));
      if (new Decimal(a.surplus).gte(p.settings.forkThreshold)) ctx.out.line(`The fork threshold is reached: \`alluse fork ${a.id} --dry-run\`.`);
    });
}

interface PostOptions {
  key?: string;
  at?: string;
  reference?: string;
  note?: string;
}
