import { type Command, Option } from 'commander';
import type { components, operations } from '../../client';
import { amount, date, positiveInt, resolvePortfolio, wholeNumber } from '../args';
import { money, percent, time } from '../output';
import type { ContextOf } from './shared';

type GrowthReport = operations['getGrowthReport']['responses'][200]['content']['application/json'];
type Period = 'week' | 'month' | 'quarter' | 'year';
type Scope = 'portfolio' | 'unit' | 'account';

/** 30 projected years take seconds (the tree grows geometrically): more than the default request deadline allows for. */
const PROJECTION_TIMEOUT_MS = 120_000;

export function reportCommands(program: Command, ctxOf: ContextOf): void {
  const report = program.command('report').description('reports: growth by period, fork and merge outcomes');

  report
    .command('growth')
    .description('opening, flows and closing per period, with time-weighted return')
    .argument('<portfolio>', 'portfolio id, name or id prefix')
    .addOption(new Option('--period <period>').choices(['week', 'month', 'quarter', 'year']).default('month'))
    .addOption(new Option('--by <scope>').choices(['portfolio', 'unit', 'account']).default('portfolio'))
    .option('--from <date>', 'YYYY-MM-DD (default: the first entry)', date)
    .option('--to <date>', 'YYYY-MM-DD (default: today)', date)
    .action(async (ref: string, o: { period: Period; by: Scope; from?: string; to?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const id = await resolvePortfolio(ctx, ref);
      const query = { period: o.period, by: o.by, format: 'json' as const, ...(o.from && { from: o.from }), ...(o.to && { to: o.to }) };
      const r = (await ctx.call(ctx.api.GET('/v1/portfolios/{id}/reports/growth', { params: { path: { id }, query } }), { 404: `no portfolio ${id}` })) as GrowthReport;
      ctx.out.emit(r, () => {
        const keyed = o.by !== 'portfolio';
        ctx.out.table(
          [...(keyed ? [{ title: 'KEY' }] : []), { title: 'PERIOD' }, ...['OPENING', 'DEPOSITS', 'WITHDRAWALS', 'INCOME', 'COSTS', 'FORKS', 'MERGES', 'CLOSING', 'TWR']
            .map((title) => ({ title, align: 'right' as const }))],
          r.rows.map((w) => [
            ...(keyed ? [w.label] : []), w.periodStart, money(w.opening), money(w.deposits), money(w.withdrawals), money(w.income), money(w.costs),
            money(w.forks), money(w.merges), money(w.closing), percent(w.twr),
          ]),
        );
        ctx.out.line();
        for (const s of r.summary) {
          ctx.out.line(`${s.label}: ${s.from} to ${s.to}, ${money(s.opening)} → ${money(s.closing)}, TWR ${percent(s.twr)}${s.annualized ? ` (annualized ${percent(s.annualized)})` : ''}`);
        }
      });
    });

  report
    .command('forks')
    .description('every completed fork: what the unit started with and what it holds now')
    .argument('<portfolio>', 'portfolio id, name or id prefix')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const id = await resolvePortfolio(ctx, ref);
      const r = await ctx.call(ctx.api.GET('/v1/portfolios/{id}/reports/forks', { params: { path: { id } } }), { 404: `no portfolio ${id}` });
      ctx.out.emit(r, () => {
        if (!r.items.length) return ctx.out.line('No completed forks yet.');
        ctx.out.table(
          [{ title: 'FORKED AT' }, { title: 'UNIT' }, { title: 'AMOUNT', align: 'right' }, { title: 'NOW', align: 'right' }, { title: 'GROWTH', align: 'right' },
            { title: 'ANNUALIZED', align: 'right' }, { title: 'MERGED AT' }, { title: 'OPERATION' }],
          r.items.map((f) => [time(f.forkedAt), f.unitId, money(f.amount), money(f.balanceNow), percent(f.growth), percent(f.annualized), time(f.mergedAt), f.operationId]),
        );
      });
    });

  report
    .command('merges')
    .description('every completed merge: the amount moved and the target Com-Acc\'s return before and since')
    .argument('<portfolio>', 'portfolio id, name or id prefix')
    .action(async (ref: string, _o, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const id = await resolvePortfolio(ctx, ref);
      const r = await ctx.call(ctx.api.GET('/v1/portfolios/{id}/reports/merges', { params: { path: { id } } }), { 404: `no portfolio ${id}` });
      ctx.out.emit(r, () => {
        if (!r.items.length) return ctx.out.line('No completed merges yet.');
        ctx.out.table(
          [{ title: 'MERGED AT' }, { title: 'UNIT' }, { title: 'AMOUNT', align: 'right' }, { title: 'TARGET COM-ACC' }, { title: 'TWR BEFORE', align: 'right' }, { title: 'TWR SINCE', align: 'right' }],
          r.items.map((x) => [time(x.mergedAt), x.unitId, money(x.amount), x.targetAccountId, percent(x.growthBefore), percent(x.growthSince)]),
        );
      });
    });

  program
    .command('projection')
    .description('project a new portfolio (or an existing one with --portfolio) year by year under the rules')
    .option('--portfolio <portfolio>', 'project this portfolio from its current tree')
    .option('--capital <amount>', 'initial capital of a new portfolio', amount, '300000.00')
    .option('--years <n>', 'years to project (1-30)', positiveInt, 10)
    .addOption(new Option('--template <template>').choices(['moderate', 'conservative', 'aggressive']))
    .option('--market-mix', 'draw good, average and poor years (60/30/10) with --seed')
    .option('--seed <n>', 'seed of the market-year draw', wholeNumber)
    .option('--fork-threshold <amount>', 'override the fork threshold', amount)
    .option('--merge-threshold <amount>', 'override the merge threshold', amount)
    .action(async (o: ProjectionOptions, cmd: Command) => {
      const ctx = ctxOf(cmd);
      // The projection's own client: a longer deadline than every other request.
      const api = ctx.clientWithTimeout(PROJECTION_TIMEOUT_MS);
      let r: components['schemas']['Projection'];
      if (o.portfolio) {
        const id = await resolvePortfolio(ctx, o.portfolio);
        const query = { years: o.years, marketMix: o.marketMix ? 'true' as const : 'false' as const, ...(o.seed !== undefined && { seed: o.seed }) };
        r = await ctx.call(api.GET('/v1/portfolios/{id}/projection', { params: { path: { id }, query } }), { 404: `no portfolio ${id}` });
      } else {
        const settings = { ...(o.forkThreshold && { forkThreshold: o.forkThreshold }), ...(o.mergeThreshold && { mergeThreshold: o.mergeThreshold }) };
        r = await ctx.call(api.POST('/v1/projections', {
          body: {
            initialCapital: o.capital, years: o.years, ...(o.marketMix && { marketMix: true }), ...(o.seed !== undefined && { seed: o.seed }),
            ...(o.template && { template: o.template }), settings,
          },
        }));
      }
      ctx.out.emit(r, () => {
        const years = r.years;
        ctx.out.table(
          [{ title: 'YEAR', align: 'right' }, { title: 'MARKET' }, ...['TOTAL', 'GEN', 'REV', 'COM', 'FORKED', 'INCOME', 'UNITS', 'FORKS', 'MERGES'].map((title) => ({ title, align: 'right' as const }))],
          years.map((y) => [String(y.year), y.marketYear, money(y.total), money(y.byType.gen), money(y.byType.rev), money(y.byType.com), money(y.byType.forked),
            money(y.income), String(y.activeForkedUnits), String(y.forks), String(y.merges)]),
        );
        ctx.out.line();
        ctx.out.line(`${r.forks.length} forks and ${r.merges.length} merges in ${years.length} years (UNITS: forked units active at the year's end).`);
      });
    });
}

interface ProjectionOptions {
  portfolio?: string;
  capital: string;
  years: number;
  template?: 'moderate' | 'conservative' | 'aggressive';
  marketMix?: boolean;
  seed?: number;
  forkThreshold?: string;
  mergeThreshold?: string;
}
