import { userInfo } from 'node:os';
import { type Command, Option } from 'commander';
import type { components } from '../../client';
import { amount, date, id, resolvePortfolio } from '../args';
import { usage } from '../exit-codes';
import { ACCOUNT_LABEL, money, progressBar, statusColor, time } from '../output';
import { printTree } from '../tree';
import { type ContextOf } from './shared';

type SettingsOverrides = components['schemas']['SettingsOverrides'];

export function portfolioCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('portfolios')
    .description('list the portfolios')
    .action(async (_opts, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const list = await ctx.call(ctx.api.GET('/v1/portfolios'));
      ctx.out.emit(list, () => {
        if (!list.items.length) {
          ctx.out.line('No portfolios yet: create one with `alluse create <name> --capital 300000.00`.');
          return;
        }
        ctx.out.table(
          [{ title: 'ID' }, { title: 'NAME' }, { title: 'OWNER' }, { title: 'TEMPLATE' }, { title: 'CAPITAL', align: 'right' }, { title: 'CREATED' }],
          list.items.map((p) => [p.id, p.name, p.owner, p.template, money(p.initialCapital), time(p.createdAt)]),
        );
      });
    });

  program
    .command('create')
    .description('create a portfolio (its root unit opens with Gen-Acc, Rev-Acc and Com-Acc) and show its tree')
    .argument('<name>', 'the portfolio name')
    .requiredOption('--capital <amount>', 'initial capital, e.g. 300000.00', amount)
    .option('--owner <owner>', 'who owns it (default: your user name)')
    .addOption(new Option('--template <template>', 'opening split').choices(['moderate', 'conservative', 'aggressive']))
    .option('--opened-at <date>', 'the day the capital was deposited (YYYY-MM-DD), to import earlier statements', date)
    .option('--fork-threshold <amount>', 'Gen-Acc surplus at which it forks (default 50000.00)', amount)
    .option('--merge-threshold <amount>', 'forked unit total at which it merges (default 500000.00)', amount)
    .option('--approvals <kinds>', 'operations that wait for a person: comma list of fork, merge, reinvestment')
    .addOption(new Option('--broker <broker>', 'manual: every broker step is a task for a person').choices(['paper', 'manual']))
    .option('--settings <json>', 'any other settings as JSON, e.g. \'{"maxForksPerDay":2}\' (docs/domain.md, settings reference)')
    .action(async (name: string, o: CreateOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const created = await ctx.call(ctx.api.POST('/v1/portfolios', {
        body: {
          name, owner: o.owner ?? ownerName(), initialCapital: o.capital, ...(o.template && { template: o.template }),
          ...(o.openedAt && { openedAt: o.openedAt }), settings: settingsFrom(o),
        },
      }), { unsure: `it may have been created: check \`alluse portfolios\` before creating it again` });
      ctx.out.emit(created, () => {
        ctx.out.line(`Created portfolio ${ctx.out.c.bold(created.name)} (${created.id}).`);
        ctx.out.line();
        printTree(ctx.out, created);
      });
    });

  program
    .command('tree')
    .description('the unit tree: balances, buckets, and progress toward the fork and merge thresholds')
    .argument('<portfolio>', 'portfolio id, name or id prefix')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const portfolioId = await resolvePortfolio(ctx, ref);
      const p = await ctx.call(ctx.api.GET('/v1/portfolios/{id}', { params: { path: { id: portfolioId } } }), { 404: `no portfolio ${portfolioId}` });
      ctx.out.emit(p, () => printTree(ctx.out, p));
    });

  program
    .command('account')
    .description('one account: balance, base balance, surplus, buckets, buffer; with --broker-account or --label, change them (admin)')
    .argument('<account>', 'account id', id('an account'))
    .option('--broker-account <id>', "the broker's account id that statement lines name (e.g. U7410021); \"none\" clears it")
    .option('--label <text>', 'a label; "none" clears it')
    .action(async (accountId: string, o: { brokerAccount?: string; label?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const hints = { 404: `no account ${accountId}` };
      const clear = (v: string) => (v === 'none' ? null : v);
      const a = o.brokerAccount !== undefined || o.label !== undefined
        ? await ctx.call(ctx.api.PATCH('/v1/accounts/{id}', {
          params: { path: { id: accountId } },
          body: { ...(o.brokerAccount !== undefined && { brokerAccountId: clear(o.brokerAccount) }), ...(o.label !== undefined && { label: clear(o.label) }) },
        }), hints)
        : await ctx.call(ctx.api.GET('/v1/accounts/{id}', { params: { path: { id: accountId } } }), hints);
      ctx.out.emit(a, () => {
        const { c } = ctx.out;
        ctx.out.line(`${c.bold(ACCOUNT_LABEL[a.type] ?? a.type)} ${a.id}  ${statusColor(c, a.status)}${a.label ? `  "${a.label}"` : ''}`);
        const rows: [string, string][] = [
          ['portfolio', a.portfolioId], ['unit', a.unitId ?? '-'], ['balance', money(a.balance)], ['base balance', money(a.baseBalance)],
          ['surplus', money(a.surplus)], ['cash', money(a.buckets.cash)], ['contracts', money(a.buckets.contracts)], ['leaps', money(a.buckets.leaps)],
          ['reserve', money(a.buckets.reserve)], ['buffer required', money(a.bufferRequired)], ['broker account', a.brokerAccountId ?? '-'], ['created', time(a.createdAt)],
        ];
        for (const [k, v] of rows) ctx.out.line(`  ${k.padEnd(16)}${/^-?[\d,]+\.\d\d$/.test(v) ? v.padStart(16) : v}`);
      });
    });
}

interface CreateOptions {
  capital: string;
  owner?: string;
  template?: 'moderate' | 'conservative' | 'aggressive';
  openedAt?: string;
  forkThreshold?: string;
  mergeThreshold?: string;
  approvals?: string;
  broker?: 'paper' | 'manual';
  settings?: string;
}

function settingsFrom(o: CreateOptions): SettingsOverrides {
  let extra: SettingsOverrides = {};
  if (o.settings) {
    try {
      extra = JSON.parse(o.settings) as SettingsOverrides;
    } catch {
      throw usage(`--settings is not JSON: ${o.settings}`, `e.g. --settings '{"maxForksPerDay":2}'`);
    }
    if (!extra || typeof extra !== 'object' || Array.isArray(extra)) throw usage('--settings must be a JSON object');
  }
  const settings: SettingsOverrides = { ...extra };
  if (o.forkThreshold) settings.forkThreshold = o.forkThreshold;
  if (o.mergeThreshold) settings.mergeThreshold = o.mergeThreshold;
  if (o.broker) settings.broker = o.broker;
  if (o.approvals) {
    const kinds = o.approvals.split(',').map((k) => k.trim()).filter(Boolean);
    const bad = kinds.filter((k) => !['fork', 'merge', 'reinvestment'].includes(k));
    if (bad.length) throw usage(`--approvals: unknown kind ${bad.join(', ')}`, 'use fork, merge and/or reinvestment, e.g. --approvals fork,merge');
    settings.approvals = Object.fromEntries(kinds.map((k) => [k, true]));
  }
  return settings;
}

function ownerName(): string {
  try {
    return userInfo().username || 'me';
  } catch {
    return 'me';
  }
}

/** Exported for `post`: a Gen-Acc's progress toward the fork threshold in one line. */
export function forkProgressLine(surplus: string, forkThreshold: string, unicode: boolean): string {
  const { bar, pct } = progressBar(surplus, forkThreshold, unicode);
  return `fork ${bar} ${pct}  surplus ${money(surplus)} of ${money(forkThreshold)}`;
}
