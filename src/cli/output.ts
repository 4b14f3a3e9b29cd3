/**
 * Everything the CLI writes: human output to stdout, errors to stderr, and
 * with --json exactly one JSON document on stdout and nothing else.
 * Colours only on a terminal (stdout a TTY, TERM not dumb) unless NO_COLOR
 * is set to a non-empty value or --no-color given; FORCE_COLOR turns them on
 * for a pipe.
 */
import pc from 'picocolors';
import Decimal from 'decimal.js';

export type Colors = ReturnType<typeof pc.createColors>;

export interface OutputOptions {
  json: boolean;
  color?: boolean;
}

export function colorWanted(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env, flag = true): boolean {
  // no-color.org: only a non-empty NO_COLOR turns colours off.
  if (!flag || env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export class Output {
  readonly json: boolean;
  /** Colours for stdout. */
  readonly c: Colors;
  /** Colours for stderr (a terminal may show one and not the other). */
  readonly ce: Colors;
  /** Human output goes to a terminal: Unicode bars and live progress are fine. */
  readonly tty: boolean;

  constructor(opts: OutputOptions) {
    this.json = opts.json;
    this.c = pc.createColors(!opts.json && colorWanted(process.stdout, process.env, opts.color !== false));
    this.ce = pc.createColors(colorWanted(process.stderr, process.env, opts.color !== false));
    this.tty = Boolean(process.stdout.isTTY);
  }

  /** A human line on stdout; nothing with --json (the document is the whole output). */
  line(text = ''): void {
    if (!this.json) process.stdout.write(`${text}\n`);
  }

  /** The one JSON document of a --json run. */
  document(doc: unknown): void {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  }

  /** With --json print `doc`, otherwise run `human`. */
  emit(doc: unknown, human: () => void): void {
    if (this.json) this.document(doc);
    else human();
  }

  /** A line for the person on stderr (never part of the --json document), e.g. the key a post is about to use. */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    process.stderr.write(`${this.ce.yellow('warning:')} ${text}\n`);
  }

  /** A table: right-aligned columns for amounts, widths from the visible text (colour codes do not count). */
  table(columns: Column[], rows: string[][], indent = ''): void {
    if (this.json) return;
    const widths = columns.map((col, i) => Math.max(visibleLength(col.title), ...rows.map((r) => visibleLength(r[i] ?? ''))));
    const cell = (text: string, i: number) => {
      const pad = ' '.repeat(widths[i]! - visibleLength(text));
      return columns[i]!.align === 'right' ? pad + text : text + pad;
    };
    const render = (cells: string[]) => (indent + cells.map(cell).join('  ')).trimEnd();
    this.line(this.c.dim(render(columns.map((col) => col.title))));
    for (const row of rows) this.line(render(row));
  }
}

export interface Column {
  title: string;
  align?: 'left' | 'right';
}

// eslint-disable-next-line no-control-regex -- matching the escape codes is the point
const ANSI = /\x1b\[[0-9;]*m/g;
export const visibleLength = (text: string) => [...text.replace(ANSI, '')].length;

/** "1234567.5" → "1,234,567.50": thousands separators on the decimal string itself, never through a float. */
export function money(amount: string | Decimal | null | undefined): string {
  if (amount === null || amount === undefined) return '-';
  const fixed = new Decimal(amount).toFixed(2);
  const negative = fixed.startsWith('-');
  const [int, frac] = (negative ? fixed.slice(1) : fixed).split('.');
  return `${negative ? '-' : ''}${int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${frac}`;
}

/** A ratio string ("0.012345") as a percentage ("1.23%"); "-" when undefined. */
export function percent(ratio: string | null | undefined, places = 2): string {
  if (ratio === null || ratio === undefined) return '-';
  return `${new Decimal(ratio).times(100).toFixed(places)}%`;
}

/**
 * Progress toward a threshold: the bar (capped at full) and the percentage,
 * rounded down so that 49,999.99 of 50,000.00 shows 99.9%, never 100.0%.
 */
export function progressBar(value: string, threshold: string, unicode: boolean, width = 20): { bar: string; pct: string; reached: boolean } {
  const ratio = Decimal.max(new Decimal(value).div(threshold), 0);
  const filled = Decimal.min(ratio.times(width), width).floor().toNumber();
  const [on, off] = unicode ? ['█', '░'] : ['#', '.'];
  return {
    bar: `[${on.repeat(filled)}${off.repeat(width - filled)}]`,
    pct: `${ratio.times(100).toDecimalPlaces(1, Decimal.ROUND_DOWN).toFixed(1)}%`,
    reached: new Decimal(value).gte(threshold),
  };
}

/** "2026-11-28T09:30:00.123Z" → "2026-11-28 09:30:00" (UTC, as the API gives it). */
export function time(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

export const ACCOUNT_LABEL: Record<string, string> = { gen: 'Gen-Acc', rev: 'Rev-Acc', com: 'Com-Acc' };

/** An operation or task status, coloured by what it means. */
export function statusColor(c: Colors, status: string): string {
  if (['completed', 'active', 'done', 'ok'].includes(status)) return c.green(status);
  if (['running', 'waiting', 'queued', 'open', 'forking', 'merging', 'compensating'].includes(status)) return c.yellow(status);
  if (['failed', 'compensated', 'cancelled', 'expired', 'closed', 'suspended'].includes(status)) return c.red(status);
  return status;
}
