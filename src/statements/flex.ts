import type Decimal from 'decimal.js';
import { SaxesParser } from 'saxes';
import type { ActivityType } from '../domain/buckets';
import { Dec, cents, formatMoney, isMoneyString } from '../domain/money';
import { MAX_NOTE_LENGTH, MalformedStatement, StatementCollector, calendarDate, chunksOf, futureDateProblem, type ParsedStatement, type StatementRecord } from './types';

/**
 * Interactive Brokers Flex Query XML (an Activity Flex Query). Every record
 * sits in one element's attributes; only these elements, known by their
 * parent, are read, each as one statement line.
 */
const LINE_ELEMENTS = new Set([
  'CashTransactions/CashTransaction',
  'Trades/Trade',
  'CashReport/CashReportCurrency',
  'EquitySummaryInBase/EquitySummaryByReportDateInBase',
]);

type Attributes = Record<string, string>;

/** What is wrong with one element: thrown while reading it, and recorded as that line's rejection. */
class LineRejected extends Error {}

export async function parseFlex(text: string, today: string): Promise<ParsedStatement> {
  expectMarkup(text);
  const out = new StatementCollector();
  const reader = new FlexReader(out, today);
  const parser = new SaxesParser<{ position: true; xmlns: false }>({ position: true, xmlns: false });
  let tagLine = 1;
  parser.on('opentagstart', () => {
    // saxes announces a tag when it reads the character after its name; when that is a line break,
    // the tag itself started on the line before.
    tagLine = parser.column === 0 ? parser.line - 1 : parser.line;
  });
  parser.on('opentag', (tag) => reader.open(tag.name, tag.attributes, tagLine));
  parser.on('closetag', (tag) => reader.close(tag.name));
  parser.on('error', (error) => {
    // saxes would carry on after an error; a file that is not well-formed is not read at all.
    throw new MalformedStatement(`not well-formed XML: ${error.message.replace(/^\d+:\d+: /, '')}`, parser.line);
  });
  for await (const chunk of chunksOf(text)) parser.write(chunk);
  parser.close();
  return out.result('ibkr');
}

/**
 * saxes notices text outside the root only where that text ends; a file that
 * is not XML at all (a CSV sent as Flex) is better told so at its first line.
 */
function expectMarkup(text: string): void {
  const leading = /^\uFEFF?\s*/.exec(text)![0];
  if (leading.length < text.length && text[leading.length] !== '<') {
    throw new MalformedStatement('not XML: an IBKR Flex Query starts with <FlexQueryResponse', leading.split('\n').length);
  }
}

interface StatementContext {
  accountId?: string;
  toDate?: string;
  baseCurrency?: string;
}

/** What every activity record of one element shares. */
interface ActivityBase {
  line: number;
  account: string;
  date: string;
  transactionId: string;
}

/** An activity before rounding to cents; `amount` is positive, the type gives the direction. */
interface Draft {
  part: number;
  type: ActivityType;
  amount: Decimal;
  note: string;
}

/** What a trade means for the engine: a result to post (or why there is none) and whether its commission posts. */
interface TradeOutcome {
  result?: { type: ActivityType; amount: Decimal };
  ignored?: string;
  postCommission: boolean;
}

class FlexReader {
  private readonly path: string[] = [];
  private statement: StatementContext = {};
  /** Which cash report row is the balance depends on all of them, so they wait for </CashReport>. */
  private cashReport: { line: number; attributes: Attributes }[] = [];

  constructor(
    private readonly out: StatementCollector,
    private readonly today: string,
  ) {}

  open(name: string, attributes: Attributes, line: number): void {
    const parent = this.path.at(-1);
    if (parent === undefined && name !== 'FlexQueryResponse') {
      throw new MalformedStatement(`the root element is <${name}>; expected <FlexQueryResponse>, an IBKR Flex Query in XML`, line);
    }
    this.path.push(name);
    const key = `${parent}/${name}`;
    if (LINE_ELEMENTS.has(key)) this.out.lines++;
    switch (key) {
      case 'FlexStatements/FlexStatement':
        this.statement = { accountId: value(attributes, 'accountId'), toDate: value(attributes, 'toDate') };
        break;
      case 'FlexStatement/AccountInformation':
        this.statement.baseCurrency = value(attributes, 'currency');
        break;
      case 'CashTransactions/CashTransaction':
        this.guarded(line, () => this.cashTransaction(attributes, line));
        break;
      case 'Trades/Trade':
        this.guarded(line, () => this.trade(attributes, line));
        break;
      case 'CashReport/CashReportCurrency':
        this.cashReport.push({ line, attributes });
        break;
      case 'EquitySummaryInBase/EquitySummaryByReportDateInBase':
        this.guarded(line, () => this.valuation(attributes, line));
        break;
    }
  }

  close(name: string): void {
    this.path.pop();
    if (name === 'CashReport') this.settleCashReport();
    if (name === 'FlexStatement') this.statement = {};
  }

  private guarded(line: number, read: () => void): void {
    try {
      read();
    } catch (error) {
      if (!(error instanceof LineRejected)) throw error;
      this.out.reject(line, error.message);
    }
  }

  private cashTransaction(a: Attributes, line: number): void {
    const base = this.activityBase(a, line, ['dateTime', 'reportDate', 'settleDate']);
    const type = required(a, 'type');
    const direction = CASH_TRANSACTION_TYPES.get(type);
    if (!direction) {
      throw new LineRejected(`unsupported cash transaction type "${type}"; expected one of ${[...CASH_TRANSACTION_TYPES.keys()].join(', ')}`);
    }
    const amount = signedNumber(a, 'amount');
    const activity = amount.isNegative() ? direction.debit : direction.credit;
    this.post(base, [{ part: 0, type: activity, amount: amount.abs(), note: value(a, 'description') ?? type }]);
  }

  private trade(a: Attributes, line: number): void {
    const base = this.activityBase(a, line, ['tradeDate', 'dateTime']);
    const category = required(a, 'assetCategory');
    const side = required(a, 'buySell');
    if (side !== 'BUY' && side !== 'SELL') throw new LineRejected(`buySell "${side}" is not supported; expected BUY or SELL`);
    const openClose = required(a, 'openCloseIndicator');
    if (openClose !== 'O' && openClose !== 'C') throw new LineRejected(`openCloseIndicator "${openClose}" is not supported; expected O (opening) or C (closing)`);
    let outcome: TradeOutcome;
    if (category === 'OPT') outcome = optionTrade(a, side, openClose);
    else if (category === 'STK') outcome = stockTrade(a, openClose);
    else throw new LineRejected(`unsupported assetCategory "${category}"; expected OPT or STK`);

    const what = describeTrade(a);
    const drafts: Draft[] = [];
    if (outcome.result) drafts.push({ part: 0, ...outcome.result, note: what });
    if (outcome.postCommission) {
      // IBKR writes a commission negative; a positive one is a rebate.
      const commission = signedNumber(a, 'ibCommission');
      drafts.push({ part: 1, type: commission.isPositive() ? 'realized_gain' : 'fee', amount: commission.abs(), note: `commission: ${what}` });
    }
    this.post(base, drafts, outcome.ignored);
  }

  private settleCashReport(): void {
    const rows = this.cashReport;
    this.cashReport = [];
    const summary = rows.find((r) => value(r.attributes, 'currency') === 'BASE_SUMMARY');
    const balanceRow = summary ?? (rows.length === 1 ? rows[0] : undefined);
    for (const row of rows) {
      if (row === balanceRow) {
        this.guarded(row.line, () => this.balance(row.attributes, row.line));
      } else if (summary) {
        this.out.ignore(row.line, `a per-currency row (${value(row.attributes, 'currency') ?? 'no currency'}); the BASE_SUMMARY row gives the balance`);
      } else {
        this.out.reject(row.line, 'a cash report in several currencies without a BASE_SUMMARY row; only USD is supported');
      }
    }
  }

  private balance(a: Attributes, line: number): void {
    if (value(a, 'currency') === 'BASE_SUMMARY') {
      const base = this.statement.baseCurrency;
      if (base !== undefined && base !== 'USD') throw new LineRejected(`the account's base currency is ${base}; only USD is supported`);
    } else {
      requireUsd(a);
    }
    const account = this.account(a);
    // A cash report covers the statement's period unless it says otherwise.
    const toDate = value(a, 'toDate') ?? this.statement.toDate;
    if (toDate === undefined) throw new LineRejected('toDate is missing (on the row and on its FlexStatement)');
    const date = this.notFuture(parseFlexDate('toDate', toDate));
    const endingCash = signedNumber(a, 'endingCash');
    if (endingCash.isNegative()) throw new LineRejected(`endingCash ${endingCash.toString()} is negative; a statement balance must be 0 or more`);
    this.out.add(balanceRecord(line, 'statement_balance', account, toMoney(endingCash, 'endingCash'), date, 'ending cash'));
  }

  private valuation(a: Attributes, line: number): void {
    // The summary is in the account's base currency, which it names.
    if (value(a, 'currency') !== undefined) requireUsd(a);
    const account = this.account(a);
    const date = this.notFuture(dateFrom(a, ['reportDate']));
    const total = signedNumber(a, 'total');
    if (total.isNegative()) throw new LineRejected(`total ${total.toString()} is negative; a valuation must be 0 or more`);
    this.out.add(balanceRecord(line, 'valuation', account, toMoney(total, 'total'), date, 'net liquidation value'));
  }

  private activityBase(a: Attributes, line: number, dateNames: string[]): ActivityBase {
    requireUsd(a);
    const transactionId = value(a, 'transactionID');
    if (transactionId === undefined) throw new LineRejected('transactionID is missing: it is what makes a re-import post nothing twice');
    // It becomes the entry's reference (at most 200 characters) and part of its key.
    if (transactionId.length > 200) throw new LineRejected(`transactionID is ${transactionId.length} characters; at most 200 are allowed`);
    return { line, account: this.account(a), date: this.notFuture(dateFrom(a, dateNames)), transactionId };
  }

  private account(a: Attributes): string {
    const account = value(a, 'accountId') ?? this.statement.accountId;
    if (account === undefined) throw new LineRejected('accountId is missing (on the element and on its FlexStatement)');
    if (account.length > 64) throw new LineRejected(`accountId is ${account.length} characters; at most 64 are allowed`);
    return account;
  }

  private notFuture(date: string): string {
    const problem = futureDateProblem(date, this.today);
    if (problem) throw new LineRejected(problem);
    return date;
  }

  /** Rounds each draft to cents; a part that rounds to nothing posts nothing. All or none of a line's records are added. */
  private post(base: ActivityBase, drafts: Draft[], ignored?: string): void {
    let reason = ignored;
    const records: StatementRecord[] = [];
    for (const draft of drafts) {
      const amount = cents(draft.amount);
      if (amount.isZero()) {
        // A zero commission is the usual case (expiries, assignments) and needs no explanation.
        if (draft.part === 0) reason ??= `${draft.type} of ${draft.amount.toString()} rounds to 0.00: nothing to post`;
        continue;
      }
      records.push({
        line: base.line,
        part: draft.part,
        kind: 'activity',
        account: base.account,
        type: draft.type,
        amount: toMoney(amount, draft.type),
        date: base.date,
        transactionId: base.transactionId,
        reference: base.transactionId,
        note: draft.note.slice(0, MAX_NOTE_LENGTH),
      });
    }
    for (const record of records) this.out.add(record);
    if (reason !== undefined) this.out.ignore(base.line, reason);
  }
}

/**
 * Only the sign decides between the two activities: a refunded fee is income
 * and a reversed dividend is a cost.
 */
const DEPOSIT_OR_WITHDRAWAL = { credit: 'deposit', debit: 'withdrawal' } as const;
const GAIN_OR_FEE = { credit: 'realized_gain', debit: 'fee' } as const;
const CASH_TRANSACTION_TYPES = new Map<string, { credit: ActivityType; debit: ActivityType }>([
  ['Deposits/Withdrawals', DEPOSIT_OR_WITHDRAWAL],
  // The spelling of older Flex files.
  ['Deposits & Withdrawals', DEPOSIT_OR_WITHDRAWAL],
  ['Other Fees', GAIN_OR_FEE],
  ['Commission Adjustments', GAIN_OR_FEE],
  ['Advisor Fees', GAIN_OR_FEE],
  ['Broker Interest Paid', GAIN_OR_FEE],
  ['Withholding Tax', GAIN_OR_FEE],
  ['Broker Interest Received', GAIN_OR_FEE],
  ['Dividends', GAIN_OR_FEE],
  ['Payment In Lieu Of Dividends', GAIN_OR_FEE],
  ['Bond Interest Received', GAIN_OR_FEE],
]);

/**
 * The engine posts a short option's premium when it is sold, so closing it
 * posts only what closing cost; buying options is the reinvestment's business.
 */
function optionTrade(a: Attributes, side: 'BUY' | 'SELL', openClose: 'O' | 'C'): TradeOutcome {
  const proceeds = signedNumber(a, 'proceeds');
  if (side === 'SELL' && openClose === 'O') {
    if (proceeds.isNegative()) throw new LineRejected(`proceeds ${proceeds.toString()} of a sale to open are negative; expected the premium received`);
    return { result: { type: 'premium', amount: proceeds }, postCommission: true };
  }
  if (side === 'BUY' && openClose === 'C') {
    if (proceeds.isZero()) return { ignored: closedForNothing(a), postCommission: true };
    if (proceeds.isPositive()) throw new LineRejected(`proceeds ${proceeds.toString()} of a purchase to close are positive; expected the cost paid, negative`);
    return { result: { type: 'realized_loss', amount: proceeds.abs() }, postCommission: true };
  }
  if (side === 'BUY') return { ignored: 'buying options to open is recorded by a reinvestment, not imported', postCommission: true };
  throw new LineRejected('selling an option to close (a long option such as a LEAPS) is not imported; record its result as activity');
}

/** Why a short option left the account at price 0. */
function closedForNothing(a: Attributes): string {
  const notes = (value(a, 'notes') ?? '').split(';');
  if (notes.includes('Ep')) return 'expired worthless: the premium was posted when sold';
  if (notes.includes('A')) return 'assigned: the loss is posted with the stock trade';
  return 'closed at price 0: the premium was posted when sold';
}

/**
 * A stock position only matters when it is closed. fifoPnlRealized counts
 * both commissions (the opening one is part of the cost), and this trade's
 * commission is posted as its own part, so it is taken out of the result.
 */
function stockTrade(a: Attributes, openClose: 'O' | 'C'): TradeOutcome {
  if (openClose === 'O') {
    return { ignored: 'opens a stock position; its result, commissions included, is posted when it is sold', postCommission: false };
  }
  const result = signedNumber(a, 'fifoPnlRealized').minus(signedNumber(a, 'ibCommission'));
  // A stock position in this method comes from an assigned put, so a loss on it is the assignment loss.
  const type: ActivityType = result.isNegative() ? 'assignment' : 'realized_gain';
  return { result: { type, amount: result.abs() }, postCommission: true };
}

function describeTrade(a: Attributes): string {
  const quantity = value(a, 'quantity');
  const price = value(a, 'tradePrice');
  const parts = [value(a, 'buySell'), quantity?.replace(/^-/, ''), value(a, 'description') ?? value(a, 'symbol')];
  return parts.filter((p) => p !== undefined).join(' ') + (price === undefined ? '' : ` @ ${price}`);
}

function balanceRecord(line: number, kind: 'statement_balance' | 'valuation', account: string, amount: string, date: string, note: string): StatementRecord {
  return { line, part: 0, kind, account, type: null, amount, date, transactionId: null, reference: null, note };
}

/** An attribute's value; IBKR writes an empty string for a field it has no value for. */
function value(a: Attributes, name: string): string | undefined {
  const v = a[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function required(a: Attributes, name: string): string {
  const v = value(a, name);
  if (v === undefined) throw new LineRejected(`${name} is missing`);
  return v;
}

function requireUsd(a: Attributes): void {
  const currency = value(a, 'currency');
  if (currency !== 'USD') throw new LineRejected(currency === undefined ? 'currency is missing; only USD is supported' : `currency ${currency}: only USD is supported`);
}

const FLEX_NUMBER = /^-?\d+(\.\d+)?$/;

function signedNumber(a: Attributes, name: string): Decimal {
  const raw = required(a, name);
  if (!FLEX_NUMBER.test(raw)) throw new LineRejected(`${name} "${raw}" is not a number; expected a decimal number such as -1.05`);
  return new Dec(raw);
}

/** The two-decimal string of a non-negative amount, refused if larger than the ledger holds. */
function toMoney(amount: Decimal, name: string): string {
  const formatted = formatMoney(amount.abs());
  if (!isMoneyString(formatted)) throw new LineRejected(`${name} ${formatted} is too large; at most 15 digits before the decimal point`);
  return formatted;
}

/** YYYYMMDD (the Flex default) or YYYY-MM-DD, optionally followed by a time, which is dropped. */
const FLEX_DATE = /^(\d{4})-?(\d{2})-?(\d{2})(?:[;, ]\s*\d{2}:?\d{2}:?\d{2})?$/;

function parseFlexDate(name: string, raw: string): string {
  const m = FLEX_DATE.exec(raw);
  const date = m && calendarDate(m[1]!, m[2]!, m[3]!);
  if (!date) throw new LineRejected(`${name} "${raw}" is not a date; expected YYYYMMDD, optionally followed by ;HHMMSS`);
  return date;
}

/** The first of `names` the element has, as a date. */
function dateFrom(a: Attributes, names: string[]): string {
  for (const name of names) {
    const raw = value(a, name);
    if (raw !== undefined) return parseFlexDate(name, raw);
  }
  throw new LineRejected(`no date: ${names.join(', ')} ${names.length > 1 ? 'are all' : 'is'} missing`);
}
