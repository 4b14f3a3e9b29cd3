/**
 * The unit tree as the terminal shows it: each unit with its accounts'
 * balances and buckets, and how far each Gen-Acc's surplus is toward the fork
 * threshold and each forked unit's total toward the merge threshold, computed
 * here with decimal.js from GET /v1/portfolios/:id.
 */
import Decimal from 'decimal.js';
import type { Schemas } from '../client';
import { ACCOUNT_LABEL, type Output, money, progressBar, statusColor } from './output';

type Portfolio = Schemas['Portfolio'];
type Unit = Portfolio['units'][number];
type Account = Schemas['Account'];

const ORDER: Record<string, number> = { gen: 0, rev: 1, com: 2 };

export function unitTotal(unit: Unit): Decimal {
  return unit.accounts.reduce((sum, a) => sum.plus(a.balance), new Decimal(0));
}

export function printTree(out: Output, p: Portfolio): void {
  const { c } = out;
  const s = p.settings;
  out.line(`${c.bold(p.name)}  ${c.dim(p.id)}  owner ${p.owner}, ${p.template} template`);
  const inFlight = new Decimal(p.totals.inFlight).isZero() ? '' : `  (${money(p.totals.inFlight)} in flight)`;
  out.line(`total ${c.bold(money(p.totals.balance))}${inFlight}  ·  fork at a Gen-Acc surplus of ${money(s.forkThreshold)}  ·  merge at a forked unit total of ${money(s.mergeThreshold)}`);

  const children = new Map<string | null, Unit[]>();
  for (const u of p.units) {
    const parent = p.units.some((x) => x.id === u.parentUnitId) ? u.parentUnitId : null;
    children.set(parent, [...(children.get(parent) ?? []), u]);
  }
  const visit = (unit: Unit, depth: number) => {
    printUnit(out, p, unit, depth);
    for (const child of children.get(unit.id) ?? []) visit(child, depth + 1);
  };
  for (const root of children.get(null) ?? []) visit(root, 0);
}

function printUnit(out: Output, p: Portfolio, unit: Unit, depth: number): void {
  const { c } = out;
  const indent = '    '.repeat(depth);
  const live = unit.status === 'active';
  const total = unitTotal(unit);
  const name = unit.kind === 'root' ? 'root unit' : 'forked unit';
  out.line();
  out.line(`${indent}${depth ? '└─ ' : ''}${c.bold(name)} ${unit.id}  ${statusColor(c, unit.status)}  total ${c.bold(money(total))}`);
  const inner = indent + (depth ? '   ' : '') + '  ';
  const accounts = [...unit.accounts].sort((a, b) => (ORDER[a.type] ?? 9) - (ORDER[b.type] ?? 9));
  out.table(
    [{ title: 'ACCOUNT' }, ...['BALANCE', 'SURPLUS', 'CASH', 'CONTRACTS', 'LEAPS', 'RESERVE'].map((title) => ({ title, align: 'right' as const })), { title: 'ID' }],
    accounts.map((a) => [
      accountName(out, a), money(a.balance), signed(out, a.surplus), money(a.buckets.cash), money(a.buckets.contracts),
      money(a.buckets.leaps), money(a.buckets.reserve), a.id,
    ]),
    inner,
  );
  if (!live) return;
  const gen = accounts.find((a) => a.type === 'gen');
  if (gen && gen.status === 'active') {
    out.line(`${inner}${threshold(out, 'fork ', `surplus ${money(gen.surplus)} of ${money(p.settings.forkThreshold)}`, gen.surplus, p.settings.forkThreshold, `alluse fork ${gen.id} --dry-run`)}`);
  }
  if (unit.kind === 'forked') {
    out.line(`${inner}${threshold(out, 'merge', `total ${money(total)} of ${money(p.settings.mergeThreshold)}`, total.toFixed(2), p.settings.mergeThreshold, `alluse merge ${unit.id} --dry-run`)}`);
  }
}

function threshold(out: Output, label: string, what: string, value: string, limit: string, next: string): string {
  const { c } = out;
  const { bar, pct, reached } = progressBar(value, limit, out.tty);
  const tail = reached ? `  ${c.green('threshold reached')}: ${next}` : '';
  return `${c.dim(label)} ${reached ? c.green(bar) : c.cyan(bar)} ${pct.padStart(6)}  ${what}${tail}`;
}

function accountName(out: Output, a: Account): string {
  const label = ACCOUNT_LABEL[a.type] ?? a.type;
  return a.status === 'active' ? label : `${label} ${statusColor(out.c, a.status)}`;
}

function signed(out: Output, amount: string): string {
  return amount.startsWith('-') ? out.c.red(money(amount)) : money(amount);
}
