/**
 * `npm run demo -- [--weeks 104] [--fast] [--pace-ms 1500] [--seed 7]`
 * Against a running engine (`npm start`): creates a demo portfolio and plays
 * simulated weeks of trading results into it through the API. Each week it
 * posts every account's premium (or, some weeks, a loss), runs the threshold
 * scan so forks and merges happen live, and at each quarter's end reinvests
 * the Rev-Acc and Com-Acc cash. Watch it in the Temporal UI.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, type Schemas, createAlluseClient, ok } from '../src/client';
import { Dec, cents, formatMoney } from '../src/domain/money';
import { renderChart, type ChartPoint } from '../src/report/svg';
import type { ScanReport } from '../src/shared/operations';

const { values } = parseArgs({
  options: {
    weeks: { type: 'string', default: '104' },
    fast: { type: 'boolean', default: false },
    'pace-ms': { type: 'string', default: '1500' },
    seed: { type: 'string', default: '7' },
    capital: { type: 'string', default: '300000.00' },
  },
});
const API = process.env.ALLUSE_API_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3000}`;
const UI = process.env.ALLUSE_TEMPORAL_UI ?? `http://127.0.0.1:${process.env.TEMPORAL_UI_PORT ?? 8233}`;
const keyFile = resolve(process.env.ALLUSE_DATA_DIR ?? '.data', 'admin-api-key');
const KEY = process.env.ALLUSE_API_KEY ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '');
if (!KEY) throw new Error(`no API key: start the engine (npm start) or set ALLUSE_API_KEY (looked in ${keyFile})`);
const weeks = Number(values.weeks);
const pace = values.fast ? 0 : Number(values['pace-ms']);

type Account = Schemas['Account'];
type Operation = Schemas['Operation'];

/** The engine's typed client (src/client): a refusal is an ApiError carrying the problem document. */
const api = createAlluseClient({ baseUrl: API, apiKey: KEY, userAgent: 'alluse-demo' });
const portfolio = (id: string) => ok(api.GET('/v1/portfolios/{id}', { params: { path: { id } } }));

/** Seeded PRNG (mulberry32), so a demo run can be repeated. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RATE = { gen: '0.015', rev: '0.010', com: '0.005' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An operation once it is no longer running (by a deadline, not a number of polls). */
async function waitFor(operationId: string, timeoutMs = 60_000): Promise<Operation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const op = await ok(api.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }));
    if (op.status !== 'running') return op;
    if (Date.now() > deadline) throw new Error(`${operationId} did not finish within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/** What a refusal says: status, code and the problem's detail, with its reasons (an ineligible operation) or field errors (invalid input). */
function refusal(err: ApiError): string {
  const why = [...(err.problem.reasons ?? []), ...(err.problem.errors ?? []).map((e) => `${e.path}: ${e.message}`)];
  return `${err.status} ${err.code ?? err.problem.title}: ${err.message}${why.length ? ` (${why.join('; ')})` : ''}`;
}

async function main(): Promise<void> {
  const ready = await fetch(`${API}/readyz`).catch(() => undefined);
  if (!ready || ready.status !== 200) throw new Error(`the engine is not ready at ${API}: run npm start first`);
  const rnd = prng(Number(values.seed));
  // Simulated weeks pass in seconds, so the demo portfolio waives the real-time cooling periods, and it
  // uses smaller thresholds ($25,000 fork, $40,000 merge) so forks and merges both show within two years.
  const settings = { forkCoolingHours: 0, mergeCoolingHours: 0, maxForksPerDay: 1000, forkThreshold: '25000.00', mergeThreshold: '40000.00' };
  const body = { name: `Demo ${new Date().toISOString().slice(0, 16)}`, owner: 'demo', initialCapital: values.capital, settings };
  const created = await ok(api.POST('/v1/portfolios', { body })).catch((err: unknown) => {
    throw err instanceof ApiError ? new Error(`could not create the demo portfolio: ${refusal(err)}`) : err;
  });
  const pid = created.id;
  console.log(`demo portfolio ${pid} with ${values.capital}; ${weeks} simulated weeks${values.fast ? ' (fast)' : ` at ${pace} ms each`}`);
  console.log(`demo settings: ${JSON.stringify(settings)}`);
  console.log(`watch: ${UI}/namespaces/default/workflows?query=${encodeURIComponent(`AllusePortfolioId="${pid}"`)}\n`);

  const history: ChartPoint[] = [];
  let forks = 0;
  let merges = 0;
  let reinvestments = 0;
  const firstQuarterYear = 2020;
  for (let week = 1; week <= weeks; week++) {
    const p = await portfolio(pid);
    const loss = rnd() < 0.08;
    const factor = new Dec(loss ? 0.5 + rnd() : 0.6 + rnd() * 0.8).toDecimalPlaces(4);
    for (const unit of p.units.filter((u) => u.status === 'active')) {
      for (const a of unit.accounts.filter((x) => x.status === 'active')) {
        const amount = cents(new Dec(a.balance).mul(0.95).mul(RATE[a.type]).mul(factor));
        if (amount.lte(0)) continue;
        const type = loss && a.type === 'gen' ? 'realized_loss' : 'premium';
        // A refused posting (an account merged meanwhile, say) is reported and the week goes on.
        await ok(api.POST('/v1/accounts/{id}/activity', {
          params: { path: { id: a.id }, header: { 'idempotency-key': `demo-w${week}` } },
          body: { type, amount: formatMoney(amount), reference: `demo week ${week}` },
        })).catch((err: unknown) => {
          if (!(err instanceof ApiError)) throw err;
          console.log(`  week ${week}: ${type} on ${a.type} ${a.id} refused: ${refusal(err)}`);
        });
      }
    }
    const scan = await ok(api.POST('/v1/scans', { body: { portfolioId: pid } }));
    const report = await waitFor(scan.operationId);
    for (const op of (report.result as ScanReport | undefined)?.started ?? []) {
      const done = await waitFor(op.operationId);
      if (done.status === 'completed' && op.type === 'fork') forks++;
      if (done.status === 'completed' && op.type === 'merge') merges++;
      console.log(`  week ${week}: ${op.type} ${done.status} (${op.operationId})`);
    }
    if (week % 13 === 0) {
      const q = Math.floor(week / 13) - 1;
      const quarter = `${firstQuarterYear + Math.floor(q / 4)}Q${(q % 4) + 1}`;
      const now = await portfolio(pid);
      for (const a of now.units.flatMap((u) => u.accounts).filter((x) => (x.type === 'rev' || x.type === 'com') && x.status === 'active')) {
        // Refused (nothing to reinvest, already done this quarter): no reinvestment, as before.
        const r = await api.POST('/v1/accounts/{id}/reinvest', { params: { path: { id: a.id } }, body: { quarter } });
        if (r.response.status === 202 && (await waitFor((r.data as Schemas['OperationStarted']).operationId)).status === 'completed') reinvestments++;
      }
      console.log(`  week ${week}: quarterly reinvestment for simulated quarter ${quarter}`);
    }
    const after = await portfolio(pid);
    const root = after.units.find((u) => u.kind === 'root')!;
    const sumOf = (accts: Account[]) => accts.reduce((s, a) => s.plus(a.balance), new Dec(0));
    const forkedUnits = after.units.filter((u) => u.kind === 'forked' && u.status === 'active');
    history.push({
      week,
      gen: formatMoney(sumOf(root.accounts.filter((a) => a.type === 'gen'))),
      rev: formatMoney(sumOf(root.accounts.filter((a) => a.type === 'rev'))),
      com: formatMoney(sumOf(root.accounts.filter((a) => a.type === 'com'))),
      forked: formatMoney(sumOf(forkedUnits.flatMap((u) => u.accounts))),
      activeForkedUnits: forkedUnits.length,
    });
    console.log(`week ${String(week).padStart(3)}  total ${after.totals.balance.padStart(14)}  forked units ${String(forkedUnits.length).padStart(3)}  forks ${forks}  merges ${merges}${loss ? '  (loss week)' : ''}`);
    if (pace) await sleep(pace);
  }

  const integrity = await ok(api.GET('/v1/portfolios/{id}/integrity', { params: { path: { id: pid } } }));
  const svg = `demo-${pid}.svg`;
  writeFileSync(svg, renderChart(history, `ALL-USE demo portfolio ${pid.slice(0, 8)}: ${weeks} simulated weeks`));
  const final = await portfolio(pid);
  console.log(`\nsummary: ${forks} forks, ${merges} merges, ${reinvestments} reinvestments; total ${final.totals.balance} (from ${values.capital})`);
  console.log(`integrity: ${integrity.ok ? 'ok' : 'FAILED'} (${integrity.checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'FAILED'}`).join(', ')})`);
  console.log(`chart: ${svg}`);
  console.log(`Temporal UI: ${UI}`);
  if (!integrity.ok) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof ApiError ? `the engine refused a request: ${refusal(err)}` : String((err as Error)?.message ?? err));
  process.exit(1);
});
