import { useId, useMemo, useState } from 'react';
import { ok, type AlluseClient, type Schemas } from '../api';
import { LineChart, type ChartSeries, type ChartTable } from '../charts/LineChart';
import { COLOR, fullDate, periodName, rateTick, shortDate } from '../charts/setup';
import { Panel } from '../components/Panel';
import { TroubleNote } from '../components/TroubleNote';
import { compactMoney, Decimal, money, percent } from '../format';
import { useLoad } from '../hooks';
import './panels.css';

type GrowthReport = Schemas['GrowthReport'];
type GrowthRow = Schemas['GrowthRow'];
type Period = 'week' | 'month' | 'quarter';

const PERIODS: { value: Period; label: string }[] = [
  { value: 'week', label: 'Week' },
  { value: 'month', label: 'Month' },
  { value: 'quarter', label: 'Quarter' },
];
const NOUN: Record<Period, string> = { week: 'week', month: 'month', quarter: 'quarter' };

const DateText = ({ iso }: { iso: string }) => <time dateTime={iso}>{fullDate(iso)}</time>;

/**
 * How the portfolio grew: the balance at each period's close (from the first
 * period's opening), each period's time-weighted return, and the range's
 * opening, closing, TWR and annualised TWR. Reloads when `refreshKey` changes
 * (the page bumps it after an activity or an operation).
 */
export function GrowthPanel({ client, portfolioId, refreshKey }: { client: AlluseClient; portfolioId: string; refreshKey: number }) {
  const [period, setPeriod] = useState<Period>('week');
  const periodId = `${useId()}-period`;
  const { data: loaded, error, loading } = useLoad(
    async (): Promise<GrowthReport> => {
      const r = await ok(client.GET('/v1/portfolios/{id}/reports/growth', { params: { path: { id: portfolioId }, query: { period, by: 'portfolio' } } }));
      // The route can also answer CSV or SVG; this request asks for JSON (the default).
      if (typeof r === 'string') throw new Error('The growth report came back in an unexpected format.');
      return r;
    },
    `growth:${portfolioId}:${period}:${refreshKey}`,
  );

  const actions = (
    <div className="growth__period">
      <label htmlFor={periodId}>Period</label>
      <select id={periodId} value={period} onChange={(e) => setPeriod(e.target.value as Period)}>
        {PERIODS.map((p) => (
          <option key={p.value} value={p.value}>
            {p.label}
          </option>
        ))}
      </select>
    </div>
  );

  // Never another portfolio's report while this one loads.
  const data = loaded?.portfolioId === portfolioId ? loaded : undefined;
  // The report shown is the one loaded; its own `period` names its rows even while the next one loads.
  const shownPeriod: Period = data && data.period !== 'year' ? data.period : period;
  return (
    <Panel id="growth" title="Growth" actions={actions}>
      <div className="growth" aria-busy={loading}>
        <TroubleNote trouble={error} />
        {!data && loading && <p className="loading">Loading the growth report…</p>}
        {data && <GrowthBody report={data} period={shownPeriod} />}
        {data && loading && (
          <p className="muted small" role="status">
            Updating…
          </p>
        )}
      </div>
    </Panel>
  );
}

function GrowthBody({ report, period }: { report: GrowthReport; period: Period }) {
  const rows = report.rows;
  const summary = report.summary[0];
  const charts = useMemo(() => buildCharts(rows, period), [rows, period]);
  if (rows.length === 0 || !charts) {
    return <p className="growth__empty">Nothing to chart yet: this portfolio has no entries in the report's range. Growth appears here after its first activity.</p>;
  }
  const noun = NOUN[period];
  return (
    <>
      {summary && (
        <dl className="growth__summary">
          <div>
            <dt>Opening</dt>
            <dd>{money(summary.opening)}</dd>
            <dd className="muted small">
              <DateText iso={summary.from} />
            </dd>
          </div>
          <div>
            <dt>Closing</dt>
            <dd>{money(summary.closing)}</dd>
            <dd className="muted small">
              <DateText iso={summary.to} />
            </dd>
          </div>
          <div>
            <dt>Time-weighted return</dt>
            <dd className={signClass(summary.twr)}>{percent(summary.twr)}</dd>
            <dd className="muted small">over the range</dd>
          </div>
          <div>
            <dt>Annualised</dt>
            <dd className={signClass(summary.annualized)}>{percent(summary.annualized)}</dd>
            <dd className="muted small">{summary.annualized === null ? 'after more than a year' : 'per year'}</dd>
          </div>
        </dl>
      )}
      <div className="growth__charts">
        <LineChart
          title="Balance"
          description={`Line chart of the portfolio balance at the close of each ${noun}, from ${money(rows[0]!.opening)} on ${fullDate(rows[0]!.periodStart)} to ${money(rows[rows.length - 1]!.closing)} on ${fullDate(rows[rows.length - 1]!.periodEnd)}.`}
          labels={charts.balanceLabels}
          series={charts.balanceSeries}
          yTick={compactMoney}
          tooltip={(_s, i) => (charts.withOpening ? (i === 0 ? `Opening ${money(rows[0]!.opening)}` : `Closing ${money(rows[i - 1]?.closing)}`) : `Closing ${money(rows[i]?.closing)}`)}
          table={charts.balanceTable}
        />
        <LineChart
          kind="bar"
          title="Time-weighted return"
          description={`Bar chart of the time-weighted return of each ${noun}; ${percent(summary?.twr ?? null)} over the whole range.`}
          labels={charts.twrLabels}
          series={charts.twrSeries}
          yTick={rateTick}
          tooltip={(_s, i) => `TWR ${percent(rows[i]?.twr)}`}
          table={charts.twrTable}
        />
      </div>
    </>
  );
}

function buildCharts(rows: GrowthRow[], period: Period) {
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) return undefined;
  const manyYears = first.periodStart.slice(0, 4) !== last.periodEnd.slice(0, 4);

  // The opening of the first period (unless the portfolio opened in it, from nothing), then each period's closing, at the day it closed.
  const withOpening = !new Decimal(first.opening).isZero();
  const balanceLabels = [...(withOpening ? [shortDate(first.periodStart, manyYears)] : []), ...rows.map((r) => shortDate(r.periodEnd, manyYears))];
  const balanceSeries: ChartSeries[] = [
    { label: 'Balance', values: [...(withOpening ? [Number(first.opening)] : []), ...rows.map((r) => Number(r.closing))], color: COLOR.accent, fill: true },
  ];
  const balanceTable: ChartTable = {
    caption: `Balance per ${NOUN[period]}`,
    columns: [{ label: 'Period start' }, { label: 'Period end' }, { label: 'Opening', numeric: true }, { label: 'Closing', numeric: true }, { label: 'TWR', numeric: true }],
    rows: rows.map((r) => ({
      key: r.periodStart,
      cells: [<DateText key="s" iso={r.periodStart} />, <DateText key="e" iso={r.periodEnd} />, money(r.opening), money(r.closing), percent(r.twr)],
    })),
  };

  const twrLabels = rows.map((r) => periodName(r.periodStart, period, manyYears));
  const twrSeries: ChartSeries[] = [
    {
      label: 'Time-weighted return',
      values: rows.map((r) => (r.twr === null ? null : Number(r.twr))),
      pointColors: rows.map((r) => (r.twr !== null && r.twr.startsWith('-') ? COLOR.bad : COLOR.ok)),
    },
  ];
  const twrTable: ChartTable = {
    caption: `Time-weighted return per ${NOUN[period]}`,
    columns: [{ label: 'Period start' }, { label: 'Closing', numeric: true }, { label: 'TWR', numeric: true }],
    rows: rows.map((r) => ({ key: r.periodStart, cells: [<DateText key="s" iso={r.periodStart} />, money(r.closing), percent(r.twr)] })),
  };
  return { balanceLabels, balanceSeries, balanceTable, twrLabels, twrSeries, twrTable, withOpening };
}

const signClass = (rate: string | null) => (rate === null ? undefined : rate.startsWith('-') ? 'growth__neg' : 'growth__pos');
