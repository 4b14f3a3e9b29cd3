import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { ApiError, describeError, ok, type AlluseClient, type Portfolio, type Schemas, type Trouble } from '../api';
import { LineChart, type ChartSeries, type ChartTable } from '../charts/LineChart';
import { COLOR } from '../charts/setup';
import { AMOUNT, cleanAmount } from '../components/Field';
import { TroubleNote } from '../components/TroubleNote';
import { Panel } from '../components/Panel';
import { compactMoney, Decimal, money } from '../format';
import './panels.css';

type Template = NonNullable<Schemas['ProjectionRequest']['template']>;
type Projection = Schemas['Projection'];
type FieldName = 'capital' | 'years' | 'forkThreshold' | 'mergeThreshold';

const TEMPLATES: { value: Template; label: string; split: string }[] = [
  { value: 'moderate', label: 'Moderate', split: 'Gen 40%, Rev 30%, Com 30%.' },
  { value: 'conservative', label: 'Conservative', split: 'Gen 30%, Rev 50%, Com 20%.' },
  { value: 'aggressive', label: 'Aggressive', split: 'Gen 50%, Rev 20%, Com 30%.' },
];
const MIN_YEARS = 1;
const MAX_YEARS = 30;

interface Form {
  capital: string;
  years: string;
  template: Template;
  forkThreshold: string;
  mergeThreshold: string;
}

const isTemplate = (t: string): t is Template => TEMPLATES.some((x) => x.value === t);

const defaults = (p: Portfolio): Form => ({
  capital: p.totals.balance,
  years: '10',
  template: isTemplate(p.template) ? p.template : 'moderate',
  forkThreshold: p.settings.forkThreshold,
  mergeThreshold: p.settings.mergeThreshold,
});

/** A positive amount with at most two decimals ("$50,000" is fine), as the API's decimal string; or why not. */
function amountOf(raw: string, what: string): { value: string } | { error: string } {
  const s = cleanAmount(raw);
  if (!AMOUNT.test(s)) return { error: `Enter ${what} as an amount in dollars such as 50000 or 50000.00 (digits, at most 2 decimal places).` };
  const d = new Decimal(s);
  if (d.lte(0)) return { error: `${what.charAt(0).toUpperCase()}${what.slice(1)} must be more than $0.00.` };
  return { value: d.toFixed(2) };
}

function validate(form: Form): { body: Schemas['ProjectionRequest'] } | { errors: Partial<Record<FieldName, string>> } {
  const errors: Partial<Record<FieldName, string>> = {};
  const capital = amountOf(form.capital, 'the capital');
  const fork = amountOf(form.forkThreshold, 'the fork threshold');
  const merge = amountOf(form.mergeThreshold, 'the merge threshold');
  if ('error' in capital) errors.capital = capital.error;
  if ('error' in fork) errors.forkThreshold = fork.error;
  if ('error' in merge) errors.mergeThreshold = merge.error;
  const y = form.years.trim();
  const years = /^\d{1,2}$/.test(y) ? Number(y) : NaN;
  if (!(years >= MIN_YEARS && years <= MAX_YEARS)) errors.years = `Years must be a whole number from ${MIN_YEARS} to ${MAX_YEARS}.`;
  if ('value' in capital && 'value' in fork && 'value' in merge && !errors.years) {
    return { body: { initialCapital: capital.value, years, template: form.template, settings: { forkThreshold: fork.value, mergeThreshold: merge.value } } };
  }
  return { errors };
}

/** Which field a problem document's `errors[].path` names (body.initialCapital, body.settings.forkThreshold, ...). */
const FIELD_OF_PATH: Record<string, FieldName> = {
  'body.initialCapital': 'capital',
  'body.years': 'years',
  'body.settings.forkThreshold': 'forkThreshold',
  'body.settings.mergeThreshold': 'mergeThreshold',
};

interface Result {
  request: Schemas['ProjectionRequest'];
  projection: Projection;
}

/**
 * What if: projects a new portfolio like this one (its balance, template and
 * thresholds by default, each changeable) year by year, with the engine's
 * own projection (POST /v1/projections), and charts the total and its parts.
 */
export function WhatIfPanel({ client, portfolio }: { client: AlluseClient; portfolio: Portfolio }) {
  const uid = useId();
  const ids = { capital: `${uid}-capital`, years: `${uid}-years`, template: `${uid}-template`, forkThreshold: `${uid}-fork`, mergeThreshold: `${uid}-merge` };
  const [form, setForm] = useState<Form>(() => defaults(portfolio));
  const [errors, setErrors] = useState<Partial<Record<FieldName, string>>>({});
  const [trouble, setTrouble] = useState<Trouble>();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result>();
  // Another portfolio: start again from its values.
  const [formFor, setFormFor] = useState(portfolio.id);
  if (formFor !== portfolio.id) {
    setFormFor(portfolio.id);
    setForm(defaults(portfolio));
    setErrors({});
    setTrouble(undefined);
    setResult(undefined);
  }

  const inputs = useRef<Partial<Record<FieldName, HTMLInputElement | null>>>({});
  const pending = useRef<AbortController | null>(null);
  useEffect(() => () => pending.current?.abort(), []);

  const set = (name: keyof Form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [name]: e.target.value }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = validate(form);
    if ('errors' in checked) {
      setErrors(checked.errors);
      setTrouble({ title: 'Check the highlighted fields.', lines: Object.values(checked.errors) });
      const first = (['capital', 'years', 'forkThreshold', 'mergeThreshold'] as const).find((n) => checked.errors[n]);
      if (first) inputs.current[first]?.focus();
      return;
    }
    setErrors({});
    setTrouble(undefined);
    // A new projection replaces one still running.
    pending.current?.abort();
    const controller = new AbortController();
    pending.current = controller;
    setBusy(true);
    try {
      const projection = await ok(client.POST('/v1/projections', { body: checked.body, signal: controller.signal }));
      if (controller.signal.aborted) return;
      setResult({ request: checked.body, projection });
    } catch (err) {
      if (controller.signal.aborted) return;
      setTrouble(describeError(err));
      if (err instanceof ApiError) {
        const fieldErrors: Partial<Record<FieldName, string>> = {};
        for (const fe of err.problem.errors ?? []) {
          const name = FIELD_OF_PATH[fe.path];
          if (name) fieldErrors[name] = fe.message;
        }
        setErrors(fieldErrors);
      }
    } finally {
      if (pending.current === controller) {
        pending.current = null;
        setBusy(false);
      }
    }
  };

  const describedBy = (name: FieldName, hint: boolean) => [hint && `${ids[name]}-hint`, errors[name] && `${ids[name]}-error`].filter(Boolean).join(' ') || undefined;
  const fieldError = (name: FieldName) =>
    errors[name] && (
      <small id={`${ids[name]}-error`} className="what-if__error">
        {errors[name]}
      </small>
    );
  const amountInput = (name: 'capital' | 'forkThreshold' | 'mergeThreshold', hint: boolean) => (
    <input
      id={ids[name]}
      ref={(el) => {
        inputs.current[name] = el;
      }}
      inputMode="decimal"
      autoComplete="off"
      spellCheck={false}
      value={form[name]}
      onChange={set(name)}
      aria-invalid={errors[name] ? true : undefined}
      aria-describedby={describedBy(name, hint)}
    />
  );

  return (
    <Panel id="what-if" title="What if">
      <p className="muted small what-if__intro">
        Project a new portfolio with these rules, year by year, at the target weekly returns. Nothing is changed in this portfolio.
      </p>
      <form className="what-if__form" onSubmit={(e) => void submit(e)} noValidate>
        <div className="field">
          <label htmlFor={ids.capital}>Capital ($)</label>
          {amountInput('capital', true)}
          <small id={`${ids.capital}-hint`} className="hint">
            Now {money(portfolio.totals.balance)}.
          </small>
          {fieldError('capital')}
        </div>
        <div className="field">
          <label htmlFor={ids.years}>Years</label>
          <input
            id={ids.years}
            ref={(el) => {
              inputs.current.years = el;
            }}
            type="number"
            inputMode="numeric"
            min={MIN_YEARS}
            max={MAX_YEARS}
            step={1}
            value={form.years}
            onChange={set('years')}
            aria-invalid={errors.years ? true : undefined}
            aria-describedby={describedBy('years', true)}
          />
          <small id={`${ids.years}-hint`} className="hint">
            {MIN_YEARS} to {MAX_YEARS}; long projections take a few seconds.
          </small>
          {fieldError('years')}
        </div>
        <div className="field">
          <label htmlFor={ids.template}>Template</label>
          <select
            id={ids.template}
            value={form.template}
            onChange={(e) => setForm((f) => ({ ...f, template: e.target.value as Template }))}
            aria-describedby={`${ids.template}-hint`}
          >
            {TEMPLATES.map((t) => (
              <option key={t.value} value={t.value}>
                {t.label}
              </option>
            ))}
          </select>
          <small id={`${ids.template}-hint`} className="hint">
            {TEMPLATES.find((t) => t.value === form.template)?.split}
          </small>
        </div>
        <div className="field">
          <label htmlFor={ids.forkThreshold}>Fork threshold ($)</label>
          {amountInput('forkThreshold', true)}
          <small id={`${ids.forkThreshold}-hint`} className="hint">
            Gen-Acc surplus that forks.
          </small>
          {fieldError('forkThreshold')}
        </div>
        <div className="field">
          <label htmlFor={ids.mergeThreshold}>Merge threshold ($)</label>
          {amountInput('mergeThreshold', true)}
          <small id={`${ids.mergeThreshold}-hint`} className="hint">
            Forked unit total that merges.
          </small>
          {fieldError('mergeThreshold')}
        </div>
        <div className="form-actions what-if__actions">
          <button type="submit" className="primary">
            Project
          </button>
          <button
            type="button"
            onClick={() => {
              pending.current?.abort();
              setForm(defaults(portfolio));
              setErrors({});
              setTrouble(undefined);
            }}
          >
            Reset
          </button>
          <span className="muted small" role="status">
            {busy ? 'Projecting…' : ''}
          </span>
        </div>
      </form>
      <TroubleNote trouble={trouble} />
      {result && <WhatIfResult result={result} />}
    </Panel>
  );
}

function WhatIfResult({ result }: { result: Result }) {
  const { request, projection } = result;
  const years = projection.years;
  const chart = useMemo(() => buildChart(projection), [projection]);
  const last = years[years.length - 1];
  if (!last) return <p>The projection returned no years.</p>;
  const template = request.template ?? 'moderate';
  return (
    <div className="what-if__result">
      <p className="what-if__headline">
        {money(request.initialCapital)} with the {template} template grows to <strong>{money(last.total)}</strong> in {last.year}{' '}
        {last.year === 1 ? 'year' : 'years'}: {projection.forks.length} {projection.forks.length === 1 ? 'fork' : 'forks'}, {projection.merges.length}{' '}
        {projection.merges.length === 1 ? 'merge' : 'merges'}, {last.activeForkedUnits} forked {last.activeForkedUnits === 1 ? 'unit' : 'units'} active at
        the end.
      </p>
      <LineChart
        title="Projected total"
        // Worded so that it shares no words with the form's labels (getByLabel matches substrings of accessible names).
        description={`Line chart of the projected total and its Gen-Acc, Rev-Acc, Com-Acc and forked-unit parts at each year end: from ${money(request.initialCapital)} to ${money(last.total)} after year ${last.year}.`}
        labels={chart.labels}
        series={chart.series}
        yTick={compactMoney}
        tooltip={(s, i) => {
          const y = years[i];
          if (!y) return '';
          const part = PARTS[s];
          return part ? `${part.label}: ${money(part.pick(y))}` : '';
        }}
        table={chart.table}
      />
      <div className="table-wrap what-if__table-wrap">
        <table className="data what-if__table">
          <caption>Projection by year</caption>
          <thead>
            <tr>
              <th scope="col">Year</th>
              <th scope="col" className="num">
                Total
              </th>
              <th scope="col" className="num">
                Forks
              </th>
              <th scope="col" className="num">
                Merges
              </th>
              <th scope="col" className="num">
                Active forked units
              </th>
            </tr>
          </thead>
          <tbody>
            {years.map((y) => (
              <tr key={y.year}>
                <th scope="row">{y.year}</th>
                <td className="num">{money(y.total)}</td>
                <td className="num">{y.forks}</td>
                <td className="num">{y.merges}</td>
                <td className="num">{y.activeForkedUnits}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

type Year = Schemas['ProjectionYear'];
/** The lines of the chart, in dataset order: the total, bold, then its parts, dashed. */
const PARTS: { label: string; pick: (y: Year) => string; color: string; width?: number; dash?: number[] }[] = [
  { label: 'Total', pick: (y) => y.total, color: COLOR.accent, width: 3 },
  { label: 'Gen-Acc (root)', pick: (y) => y.byType.gen, color: COLOR.warn, dash: [6, 3] },
  { label: 'Rev-Acc', pick: (y) => y.byType.rev, color: COLOR.ok, dash: [2, 3] },
  { label: 'Com-Acc (root)', pick: (y) => y.byType.com, color: COLOR.violet, dash: [8, 3, 2, 3] },
  { label: 'Forked units', pick: (y) => y.byType.forked, color: COLOR.teal, dash: [3, 3] },
];

function buildChart(projection: Projection): { labels: string[]; series: ChartSeries[]; table: ChartTable } {
  const years = projection.years;
  return {
    labels: years.map((y) => `Year ${y.year}`),
    series: PARTS.map((p) => ({ label: p.label, values: years.map((y) => Number(p.pick(y))), color: p.color, width: p.width ?? 1.5, dash: p.dash })),
    table: {
      caption: 'Projected balances at the end of each year',
      columns: [{ label: 'Year' }, ...PARTS.map((p) => ({ label: p.label, numeric: true }))],
      rows: years.map((y) => ({ key: String(y.year), cells: [String(y.year), ...PARTS.map((p) => money(p.pick(y)))] })),
    },
  };
}
