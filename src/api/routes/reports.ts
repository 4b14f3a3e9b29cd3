import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { renderGrowthChart, renderUnitTree } from '../../reports/charts';
import { MIN_DAYS_TO_ANNUALIZE } from '../../reports/forks';
import { EARLIEST_REPORT_DAY, MAX_GROWTH_ROWS, PERIODS, SCOPES, growthCsv } from '../../reports/growth';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { idParams } from '../schemas';

const SVG = 'image/svg+xml';
const CSV = 'text/csv; charset=utf-8';
/** The media types a response is documented with in /openapi.json (the CSV is sent with `; charset=utf-8`). */
const JSON_TYPE = 'application/json';
const CSV_TYPE = 'text/csv';

const amount = z.string().openapi({ example: '120000.00' });
const signed = (description: string) => z.string().openapi({ example: '-2500.00', description });
const ratio = (description: string) =>
  z.string().nullable().openapi({ example: '0.012345', description: `${description} A decimal string with 6 places ("0.012345" is 1.2345%); null when undefined.` });
const day = z.iso.date();

const GrowthQuery = z.object({
  period: z.enum(PERIODS).default('month').openapi({ description: 'UTC calendar periods; weeks start on Monday (ISO).' }),
  by: z.enum(SCOPES).default('portfolio').openapi({
    description: 'portfolio: every account but the external one (holding included); unit: each unit (Gen/Rev/Com); account: each unit account.',
  }),
  from: day.optional().openapi({
    description: `YYYY-MM-DD, not before ${EARLIEST_REPORT_DAY} (entries before it count in the first opening balance); `
      + `default the portfolio's earliest entry date, or ${EARLIEST_REPORT_DAY} when that is earlier.`,
  }),
  to: day.optional().openapi({ description: `YYYY-MM-DD, inclusive, within ${EARLIEST_REPORT_DAY}..today (UTC) and not before from; default today.` }),
  format: z.enum(['json', 'csv', 'svg']).default('json').openapi({ description: 'csv: the rows with a header line; svg: the closing balance per period per key.' }),
});

const GrowthRow = z
  .object({
    key: z.string().openapi({ description: 'The portfolio, unit or account id.' }),
    label: z.string(),
    periodStart: day,
    periodEnd: day.openapi({ description: 'Inclusive; periods are clipped to from..to.' }),
    opening: amount,
    closing: amount.openapi({ description: 'opening + deposits + withdrawals + income + costs + forks + merges' }),
    deposits: signed('Deposits and the opening capital.'),
    withdrawals: signed('Withdrawals (≤ 0).'),
    income: signed('Premiums and realized gains.'),
    costs: signed('Realized losses, fees and assignments (≤ 0).'),
    forks: signed('Fork money into (> 0) or out of (< 0) the scope; 0 at portfolio scope.'),
    merges: signed('Merge money into or out of the scope; 0 at portfolio scope.'),
    reinvested: amount.openapi({ description: 'Moved from cash into contracts, LEAPS and reserve by reinvestments (inside the accounts: no balance change).' }),
    twr: ratio('Time-weighted return of the period.'),
    valuation: z.string().nullable().openapi({ description: "Sum of the latest broker valuation in the period of each account in scope that has one; null when none has." }),
    unrealized: z.string().nullable().openapi({ description: 'valuation minus the engine balances of the same accounts at their valuation dates.' }),
  })
  .openapi('GrowthRow');

const GrowthReport = z
  .object({
    portfolioId: z.string(),
    period: z.enum(PERIODS),
    by: z.enum(SCOPES),
    from: day,
    to: day,
    rows: z.array(GrowthRow),
    summary: z.array(z.object({
      key: z.string(),
      label: z.string(),
      from: day.openapi({ description: "from, or the key's first entry date when later." }),
      to: day,
      opening: amount,
      closing: amount,
      twr: ratio('Time-weighted return over from..to.'),
      annualized: ratio('(1 + twr)^(365 / days) − 1, only when from..to spans more than 365 days.'),
    })),
  })
  .openapi('GrowthReport');

const ForkReport = z
  .object({
    items: z.array(z.object({
      operationId: z.string(),
      forkedAt: z.string(),
      amount: amount.openapi({ description: 'Child Gen + child Com: what the forked unit started with.' }),
      unitId: z.string(),
      parentAccountId: z.string(),
      balanceNow: amount.openapi({ description: "The forked unit's balance now, or when it merged." }),
      mergedAt: z.string().nullable(),
      growth: z.string().openapi({ description: 'balanceNow / amount − 1 (6 places).' }),
      annualized: ratio(`(1 + growth)^(365 / days) − 1 over the unit's life; null under ${MIN_DAYS_TO_ANNUALIZE} days.`),
    })),
  })
  .openapi('ForkReport');

const MergeReport = z
  .object({
    items: z.array(z.object({
      operationId: z.string(),
      mergedAt: z.string(),
      unitId: z.string(),
      targetAccountId: z.string(),
      amount: amount,
      growthBefore: ratio("The target Com-Acc's TWR from its first entry to the merge."),
      annualizedBefore: ratio(`Null under ${MIN_DAYS_TO_ANNUALIZE} days.`),
      growthSince: ratio("The target Com-Acc's TWR from the merge to now (the merged money is a flow, not a return)."),
      annualizedSince: ratio(`Null under ${MIN_DAYS_TO_ANNUALIZE} days.`),
    })),
  })
  .openapi('MergeReport');

const UnitTreeNode = z
  .object({
    unitId: z.string(),
    kind: z.enum(['root', 'forked']),
    status: z.string(),
    balances: z.object({ gen: amount.nullable(), rev: amount.nullable(), com: amount.nullable(), total: amount }),
    get children() {
      return z.array(UnitTreeNode);
    },
  })
  .openapi('UnitTreeNode');

export function reportRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/reports/growth', operationId: 'getGrowthReport', tag: 'Reports', role: 'viewer',
    summary: 'Growth per period: opening, deposits, withdrawals, income, costs, forks, merges, closing, reinvested, TWR, valuation (?format=csv|svg)',
    params: idParams, query: GrowthQuery,
    responses: {
      200: {
        description: `Growth report: application/json (format=json), text/csv (format=csv: a header line and the rows) or image/svg+xml (format=svg). `
          + `Refused (400) over ${MAX_GROWTH_ROWS.toLocaleString('en-US')} rows (each key's periods from its first entry in from..to): use a longer period, by=portfolio or a shorter range.`,
        schema: GrowthReport,
        mediaTypes: [JSON_TYPE, CSV_TYPE, SVG],
      },
    },
    handler: async ({ params, query }) => {
      const { format, ...q } = query;
      const { portfolioName, ...report } = await deps.reports.growth(params.id, q);
      if (format === 'csv') return { status: 200, body: growthCsv(report.rows), contentType: CSV };
      if (format === 'svg') {
        const title = `${portfolioName}: closing balance by ${report.by} per ${report.period}, ${report.from} to ${report.to}`;
        return { status: 200, body: renderGrowthChart(report.rows, title), contentType: SVG };
      }
      return { status: 200, body: report };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/reports/forks', operationId: 'getForksReport', tag: 'Reports', role: 'viewer',
    summary: 'Fork efficiency: each completed fork, what its unit started with and holds now',
    params: idParams,
    responses: { 200: { description: 'Completed forks', schema: ForkReport } },
    handler: async ({ params }) => ({ status: 200, body: await deps.reports.forks(params.id) }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/reports/merges', operationId: 'getMergesReport', tag: 'Reports', role: 'viewer',
    summary: "Merge outcomes: the target Com-Acc's time-weighted return before and since each completed merge",
    params: idParams,
    responses: { 200: { description: 'Completed merges', schema: MergeReport } },
    handler: async ({ params }) => ({ status: 200, body: await deps.reports.merges(params.id) }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/reports/tree', operationId: 'getTreeReport', tag: 'Reports', role: 'viewer',
    summary: "The unit tree with each unit's Gen/Rev/Com balances (?format=svg draws it)",
    params: idParams,
    query: z.object({ format: z.enum(['json', 'svg']).default('json') }),
    responses: {
      200: { description: 'The root unit, its children nested: application/json, or image/svg+xml with format=svg', schema: UnitTreeNode, mediaTypes: [JSON_TYPE, SVG] },
    },
    handler: async ({ params, query }) => {
      const { portfolioName, root } = await deps.reports.tree(params.id);
      if (query.format === 'svg') return { status: 200, body: renderUnitTree([root], `${portfolioName}: units`), contentType: SVG };
      return { status: 200, body: root };
    },
  });
}
