import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Decimal from 'decimal.js';
import { activityEffect, applyDelta, balanceOf, openingBuckets, type AccountType, type ActivityType } from '../../src/domain/buckets';
import { Dec, ZERO, formatMoney, money } from '../../src/domain/money';
import { openingSplit } from '../../src/domain/opening';
import { TEMPLATES } from '../../src/domain/settings';
import { MalformedStatement, parseStatement, type ParsedStatement, type StatementRecord } from '../../src/statements';

const TODAY = { today: '2026-11-29' };
const example = (name: string) => readFileSync(join(__dirname, '../../examples', name), 'utf8');

const HEADER = 'date,account,type,amount,reference,note';
const csv = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';
const parseCsv = (text: string) => parseStatement(text, 'csv', TODAY);

/** A Flex response around `body`, whose first line is line 4. */
const flex = (body: string) =>
  [
    '<FlexQueryResponse queryName="test" type="AF">',
    '<FlexStatements count="1">',
    '<FlexStatement accountId="U1" fromDate="20261102" toDate="20261127" period="Custom" whenGenerated="20261128;081512">',
    body,
    '</FlexStatement>',
    '</FlexStatements>',
    '</FlexQueryResponse>',
  ].join('\n');
const parseFlex = (body: string) => parseStatement(flex(body), 'ibkr-flex', TODAY);

const trade = (attrs: Record<string, string>) => {
  const all = {
    accountId: 'U1',
    currency: 'USD',
    assetCategory: 'OPT',
    symbol: 'SPY   261106P00690000',
    description: 'SPY 06NOV26 690 P',
    quantity: '-6',
    tradePrice: '1.62',
    dateTime: '20261102;100512',
    tradeDate: '20261102',
    buySell: 'SELL',
    openCloseIndicator: 'O',
    proceeds: '972',
    ibCommission: '-6.3',
    fifoPnlRealized: '0',
    notes: '',
    transactionID: '34218806415',
    ...attrs,
  };
  return `<Trades>\n<Trade ${Object.entries(all).map(([k, v]) => `${k}="${v}"`).join(' ')} />\n</Trades>`;
};
const cashTransaction = (attrs: Record<string, string>) => {
  const all = { accountId: 'U1', currency: 'USD', dateTime: '20261103;202000', amount: '-10', type: 'Other Fees', transactionID: '1', description: 'market data', ...attrs };
  return `<CashTransactions>\n<CashTransaction ${Object.entries(all).map(([k, v]) => `${k}="${v}"`).join(' ')} />\n</CashTransactions>`;
};

/** The records' effect on the balance: what the engine posts. */
const SIGN: Record<ActivityType, 1 | -1> = { deposit: 1, withdrawal: -1, premium: 1, realized_gain: 1, realized_loss: -1, fee: -1, assignment: -1 };
function signedSum(records: StatementRecord[], account: string): Decimal {
  return records
    .filter((r) => r.kind === 'activity' && r.account === account)
    .reduce((total, r) => total.plus(new Dec(r.amount).mul(SIGN[r.type!])), new Dec(ZERO));
}
const only = (parsed: ParsedStatement, kind: StatementRecord['kind'], account: string) => parsed.records.filter((r) => r.kind === kind && r.account === account);
const brief = (r: StatementRecord) => [r.line, r.part, r.type ?? r.kind, r.amount];

/**
 * Posts an account's activity records with the engine's own rules, in file
 * order or in date order: a withdrawal above the cash over the buffer, or a
 * debit above the balance, throws here as it would in the engine.
 */
function postAll(records: StatementRecord[], account: string, type: AccountType, opening: Decimal, order: 'file' | 'date'): Decimal {
  const bufferPct = TEMPLATES.moderate.bufferPct;
  let buckets = openingBuckets(opening, bufferPct);
  let baseBalance = opening;
  const activity = records.filter((r) => r.kind === 'activity' && r.account === account);
  if (order === 'date') activity.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  for (const r of activity) {
    const effect = activityEffect(r.type!, money(r.amount), { type, buckets, baseBalance }, bufferPct);
    buckets = applyDelta(buckets, effect.delta);
    baseBalance = baseBalance.plus(effect.baseBalanceDelta);
  }
  return balanceOf(buckets);
}
const ORDERS = ['file', 'date'] as const;

// The README walkthrough: $300,000.00 moderate, opened 2026-11-02; Gen → U7410021, Rev → U7410022, Com → U7410023.
const OPENING = openingSplit(money('300000.00'), 'moderate');

describe('the examples', () => {
  it('the Flex example (Gen-Acc U7410021) parses without rejections, and its ending cash is the opening plus every posted amount', async () => {
    const parsed = await parseStatement(example('ibkr-flex-november.xml'), 'ibkr-flex', TODAY);
    expect(parsed.broker).toBe('ibkr');
    expect(parsed.rejected).toEqual([]);
    expect(parsed.lines).toBe(20); // 16 trades, 1 cash transaction, 2 cash report rows, 1 equity summary
    expect(parsed.records).toHaveLength(23);
    expect(parsed.ignored.map((p) => p.reason)).toEqual([
      'a per-currency row (USD); the BASE_SUMMARY row gives the balance',
      'opens a stock position; its result, commissions included, is posted when it is sold',
      'expired worthless: the premium was posted when sold',
      'expired worthless: the premium was posted when sold',
      'assigned: the loss is posted with the stock trade',
      'expired worthless: the premium was posted when sold',
      'expired worthless: the premium was posted when sold',
    ]);
    const count = (type: ActivityType) => parsed.records.filter((r) => r.type === type).length;
    expect([count('premium'), count('fee'), count('realized_loss'), count('assignment')]).toEqual([8, 11, 1, 1]); // 8 opening commissions, one closing one, one on the stock sale, the market data fee
    expect(parsed.records.every((r) => r.account === 'U7410021')).toBe(true);

    const premiums = parsed.records.filter((r) => r.type === 'premium').reduce((s, r) => s.plus(r.amount), new Dec(0));
    expect(formatMoney(premiums)).toBe('8230.00');
    const sum = signedSum(parsed.records, 'U7410021');
    expect(formatMoney(sum)).toBe('4368.56');

    const [balance] = only(parsed, 'statement_balance', 'U7410021');
    expect(balance).toMatchObject({ date: '2026-11-27', amount: '124368.56' });
    expect(formatMoney(OPENING.gen.plus(sum))).toBe(balance!.amount); // the reconciliation difference is 0.00
    for (const order of ORDERS) expect(formatMoney(postAll(parsed.records, 'U7410021', 'gen', OPENING.gen, order))).toBe(balance!.amount);

    const [valuation] = only(parsed, 'valuation', 'U7410021');
    expect(valuation).toMatchObject({ date: '2026-11-27', amount: '123916.56' });
    expect(formatMoney(new Dec(valuation!.amount).minus(balance!.amount))).toBe('-452.00'); // the open short puts at market
  });

  it('the CSV example (Rev-Acc U7410022, Com-Acc U7410023) parses without rejections, and its balances agree with its lines', async () => {
    const parsed = await parseCsv(example('statement-november.csv'));
    expect(parsed).toMatchObject({ broker: 'csv', lines: 22, rejected: [], ignored: [] });
    expect(parsed.records).toHaveLength(22);
    expect(parsed.records.filter((r) => r.kind === 'activity').every((r) => r.transactionId === r.reference && r.reference !== null)).toBe(true);

    const rev = signedSum(parsed.records, 'U7410022');
    const com = signedSum(parsed.records, 'U7410023');
    expect([formatMoney(rev), formatMoney(com)]).toEqual(['1662.70', '7404.25']);
    expect(only(parsed, 'statement_balance', 'U7410022').map((r) => r.amount)).toEqual([formatMoney(OPENING.rev.plus(rev))]);
    expect(only(parsed, 'statement_balance', 'U7410023').map((r) => r.amount)).toEqual([formatMoney(OPENING.com.plus(com))]);
    expect(only(parsed, 'valuation', 'U7410023').map((r) => [r.date, r.amount])).toEqual([['2026-11-27', '97118.65']]);

    // The Rev-Acc withdrawal fits within the cash above its 5% buffer; the engine's own rules would refuse it otherwise.
    for (const order of ORDERS) {
      expect(formatMoney(postAll(parsed.records, 'U7410022', 'rev', OPENING.rev, order))).toBe('91662.70');
      expect(formatMoney(postAll(parsed.records, 'U7410023', 'com', OPENING.com, order))).toBe('97404.25');
    }
  });
});

describe('generic CSV', () => {
  it('reads every column, in any order, ignoring extra columns', async () => {
    const parsed = await parseCsv('note,extra,amount,type,reference,account,date\n"Sold 4 SPY",x,812.5,premium,RV-1,U7410022,2026-11-06\n');
    expect(parsed.records).toEqual([
      {
        line: 2,
        part: 0,
        kind: 'activity',
        account: 'U7410022',
        type: 'premium',
        amount: '812.50',
        date: '2026-11-06',
        transactionId: 'RV-1',
        reference: 'RV-1',
        note: 'Sold 4 SPY',
      },
    ]);
  });

  it('takes the UTC date of a timestamp', async () => {
    const parsed = await parseCsv(csv('2026-11-06T23:30:00-05:00,U1,premium,1.00,R1,', '2026-11-06T10:00:00Z,U1,fee,1.00,R2,'));
    expect(parsed.records.map((r) => r.date)).toEqual(['2026-11-07', '2026-11-06']);
  });

  it('needs no reference on a balance or valuation line, and accepts 0.00 there but nothing negative', async () => {
    const parsed = await parseCsv(csv('2026-11-27,U1,statement_balance,0,,', '2026-11-27,U1,valuation,1234.5,,', '2026-11-27,U1,statement_balance,-1.00,,'));
    expect(parsed.rejected).toEqual([{ line: 4, reason: 'amount "-1.00" is negative; a statement_balance must be 0 or more' }]);
    expect(parsed.records.map((r) => [r.kind, r.type, r.amount, r.transactionId, r.reference])).toEqual([
      ['statement_balance', null, '0.00', null, null],
      ['valuation', null, '1234.50', null, null],
    ]);
  });

  it('rejects each bad line with its line number and what is expected', async () => {
    const parsed = await parseCsv(
      csv(
        '2026-11-02,U1,premium,"12,50",R1,', // line 2
        '2026-11-02,U1,premum,12.50,R2,',
        '2027-01-04,U1,premium,12.50,R3,',
        '2026-11-02,U1,premium,12.50,,',
        '2026-11-02,U1,withdrawal,-2500.00,R5,',
        '2026-11-02,U1,fee,0.00,R6,',
        '06/11/2026,U1,fee,1.00,R7,',
        '2026-11-02,U1,fee,1.00,R8',
        '2026-11-02,,fee,1.005,R9,',
        `2026-11-02,U1,fee,1.00,R10,${'x'.repeat(1001)}`,
        '2026-11-02,U1,fee,1.00,R11,fine', // line 12
      ),
    );
    expect(parsed.lines).toBe(11);
    expect(parsed.records.map((r) => r.line)).toEqual([12]);
    expect(parsed.rejected).toEqual([
      { line: 2, reason: 'amount "12,50" is not a decimal amount such as 1234.50 (no sign, thousands separator or currency symbol; at most 2 decimals)' },
      {
        line: 3,
        reason: 'unknown type "premum"; expected one of deposit, withdrawal, premium, realized_gain, realized_loss, fee, assignment, statement_balance, valuation',
      },
      { line: 4, reason: 'dated 2027-01-04, in the future (today is 2026-11-29, UTC)' },
      {
        line: 5,
        reason: "reference is missing: an activity line needs the broker's transaction id, which is what makes a re-import post nothing twice",
      },
      { line: 6, reason: 'amount "-2500.00" is negative; write it positive: the type gives the direction (money out is withdrawal,2500.00)' },
      { line: 7, reason: 'amount 0.00 moves no money; an activity amount must be greater than 0' },
      { line: 8, reason: 'date "06/11/2026" is not a date; expected a date such as 2026-11-06 (or an ISO timestamp such as 2026-11-06T15:30:00Z)' },
      { line: 9, reason: 'has 5 fields; the header has 6' },
      {
        line: 10,
        reason:
          "account is missing; expected the engine account id or the broker's account id; amount \"1.005\" is not a decimal amount such as 1234.50 (no sign, thousands separator or currency symbol; at most 2 decimals)",
      },
      { line: 11, reason: 'note is 1001 characters; at most 1000 are allowed' },
    ]);
  });

  it('reads CRLF line endings and a UTF-8 byte order mark, skipping blank rows', async () => {
    const text = '\uFEFF' + [HEADER, '2026-11-02,U1,premium,812.00,R1,', '', '2026-11-09,U1,premium,756.00,R2,', ',,,,,'].join('\r\n') + '\r\n';
    const parsed = await parseCsv(text);
    expect(parsed).toMatchObject({ lines: 2, rejected: [] });
    expect(parsed.records.map(brief)).toEqual([
      [2, 0, 'premium', '812.00'],
      [4, 0, 'premium', '756.00'],
    ]);
  });

  // csv-parse reports the line where a row ends, and counts a CRLF inside quotes as two lines.
  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('numbers a row by the line where it starts, after a quoted multi-line note (%s)', async (_name, eol) => {
    const rows = [HEADER, '2026-11-02,U1,premium,1.00,R1,"first', 'second', 'third"', '', '2026-11-02,U1,premum,1.00,R2,', '2026-11-02,U1,fee,1.00,R3,"a', 'b"'];
    const parsed = await parseCsv(rows.join(eol) + eol);
    expect(parsed.records.map((r) => [r.line, r.note])).toEqual([
      [2, 'first\nsecond\nthird'],
      [7, 'a\nb'],
    ]);
    expect(parsed.rejected.map((p) => p.line)).toEqual([6]);
  });

  it.each([
    ['an unclosed quote', csv('2026-11-02,U1,premium,1.00,R1,', '', '2026-11-02,U1,premium,"1.00,R2,', '2026-11-02,U1,premium,1.00,R3,'), 4, 'a quoted field on this line is never closed'],
    ['a missing column', 'date,account,type,reference\n2026-11-02,U1,premium,R1\n', 1, 'the header has no "amount" column'],
    ['a column named twice', 'date,account,type,amount,Amount\n', 1, 'the header names the column "amount" twice'],
    ['a stray quote', csv('2026-11-02,U1,premium,1.00,R1,"note"x'), 2, 'CSV syntax error'],
  ])('refuses a file with %s, naming the line', async (_name, text, line, message) => {
    const error = await parseCsv(text).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedStatement);
    expect(error).toMatchObject({ line, message: expect.stringContaining(message) });
    expect((error as Error).message).toMatch(new RegExp(`^line ${line}: `));
  });

  it.each([
    ['an empty file', ''],
    ['only blank lines', '\n\n'],
    ['only a header', `${HEADER}\n`],
  ])('refuses %s: no lines', async (_name, text) => {
    await expect(parseCsv(text)).rejects.toThrow(MalformedStatement);
    await expect(parseCsv(text)).rejects.toThrow(/no lines/);
  });
});

describe('IBKR Flex Query XML', () => {
  it('maps deposits and withdrawals by sign', async () => {
    const parsed = await parseFlex(
      [
        '<CashTransactions>',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261102;093000" amount="5000" type="Deposits/Withdrawals" transactionID="11" description="CASH RECEIPTS" />',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261120" amount="-1500" type="Deposits/Withdrawals" transactionID="12" description="DISBURSEMENT" />',
        '<CashTransaction accountId="U1" currency="USD" reportDate="20261121" amount="250" type="Deposits &amp; Withdrawals" transactionID="13" />',
        '</CashTransactions>',
      ].join('\n'),
    );
    expect(parsed.records.map((r) => [r.line, r.type, r.amount, r.date, r.transactionId, r.note])).toEqual([
      [5, 'deposit', '5000.00', '2026-11-02', '11', 'CASH RECEIPTS'],
      [6, 'withdrawal', '1500.00', '2026-11-20', '12', 'DISBURSEMENT'],
      [7, 'deposit', '250.00', '2026-11-21', '13', 'Deposits & Withdrawals'],
    ]);
  });

  it('posts a fee as a fee and its refund as a gain; interest and dividends as gains', async () => {
    const parsed = await parseFlex(
      [
        '<CashTransactions>',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261103" amount="-10" type="Other Fees" transactionID="1" />',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261104" amount="10" type="Other Fees" transactionID="2" />',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261105" amount="3.125" type="Broker Interest Received" transactionID="3" />',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261105" amount="-0.47" type="Withholding Tax" transactionID="4" />',
        '<CashTransaction accountId="U1" currency="USD" dateTime="20261105" amount="-3.2" type="Dividends" transactionID="5" />',
        '</CashTransactions>',
      ].join('\n'),
    );
    expect(parsed.records.map((r) => [r.type, r.amount])).toEqual([
      ['fee', '10.00'],
      ['realized_gain', '10.00'],
      ['realized_gain', '3.13'], // half-up to the cent
      ['fee', '0.47'],
      ['fee', '3.20'],
    ]);
  });

  it('posts an option sold to open as premium (part 0) and its commission as a fee (part 1)', async () => {
    const parsed = await parseFlex(trade({}));
    expect(parsed.records).toEqual([
      expect.objectContaining({ line: 5, part: 0, kind: 'activity', account: 'U1', type: 'premium', amount: '972.00', date: '2026-11-02', transactionId: '34218806415', reference: '34218806415', note: 'SELL 6 SPY 06NOV26 690 P @ 1.62' }),
      expect.objectContaining({ line: 5, part: 1, type: 'fee', amount: '6.30', transactionId: '34218806415', note: 'commission: SELL 6 SPY 06NOV26 690 P @ 1.62' }),
    ]);
  });

  it('posts the cost of buying an option back as a realized loss, with its commission', async () => {
    const parsed = await parseFlex(trade({ buySell: 'BUY', openCloseIndicator: 'C', quantity: '7', tradePrice: '3.1', proceeds: '-2170', ibCommission: '-7.35', fifoPnlRealized: '-889.7' }));
    expect(parsed.records.map(brief)).toEqual([
      [5, 0, 'realized_loss', '2170.00'],
      [5, 1, 'fee', '7.35'],
    ]);
  });

  it('ignores an option that expired worthless or was assigned at price 0, still posting a commission', async () => {
    const expired = await parseFlex(trade({ buySell: 'BUY', openCloseIndicator: 'C', quantity: '6', tradePrice: '0', proceeds: '0', ibCommission: '0', notes: 'Ep', fifoPnlRealized: '965.7' }));
    expect(expired.records).toEqual([]);
    expect(expired.ignored).toEqual([{ line: 5, reason: 'expired worthless: the premium was posted when sold' }]);

    const assigned = await parseFlex(trade({ buySell: 'BUY', openCloseIndicator: 'C', quantity: '2', tradePrice: '0', proceeds: '0', ibCommission: '-1.5', notes: 'A' }));
    expect(assigned.records.map(brief)).toEqual([[5, 1, 'fee', '1.50']]);
    expect(assigned.ignored).toEqual([{ line: 5, reason: 'assigned: the loss is posted with the stock trade' }]);
  });

  it('ignores buying an option to open but posts its commission; refuses selling one to close', async () => {
    const bought = await parseFlex(trade({ buySell: 'BUY', openCloseIndicator: 'O', quantity: '2', proceeds: '-9840', ibCommission: '-2.1' }));
    expect(bought.records.map(brief)).toEqual([[5, 1, 'fee', '2.10']]);
    expect(bought.ignored).toEqual([{ line: 5, reason: 'buying options to open is recorded by a reinvestment, not imported' }]);

    const sold = await parseFlex(trade({ buySell: 'SELL', openCloseIndicator: 'C' }));
    expect(sold.records).toEqual([]);
    expect(sold.rejected).toEqual([{ line: 5, reason: expect.stringContaining('selling an option to close') }]);
  });

  it('posts the loss on assigned stock as an assignment, net of the sale commission which posts as a fee', async () => {
    const stock = { assetCategory: 'STK', symbol: 'QQQ', description: 'INVESCO QQQ TRUST SERIES 1', notes: 'A' };
    const parsed = await parseFlex(
      [
        trade({ ...stock, buySell: 'BUY', openCloseIndicator: 'O', quantity: '200', tradePrice: '605', proceeds: '-121000', ibCommission: '0', transactionID: '7' }),
        trade({ ...stock, notes: '', buySell: 'SELL', openCloseIndicator: 'C', quantity: '-200', tradePrice: '596.85', proceeds: '119370', ibCommission: '-1.04', fifoPnlRealized: '-1631.04', transactionID: '8', tradeDate: '20261123' }),
        trade({ ...stock, notes: '', buySell: 'SELL', openCloseIndicator: 'C', quantity: '-100', tradePrice: '610', proceeds: '61000', ibCommission: '-1', fifoPnlRealized: '499', transactionID: '9', tradeDate: '20261124' }),
      ].join('\n'),
    );
    expect(parsed.ignored).toEqual([{ line: 5, reason: 'opens a stock position; its result, commissions included, is posted when it is sold' }]);
    // The cash the two trades moved, -121000 + 119370 - 1.04, is exactly what posts: -1630.00 - 1.04.
    expect(parsed.records.map(brief)).toEqual([
      [8, 0, 'assignment', '1630.00'],
      [8, 1, 'fee', '1.04'],
      [11, 0, 'realized_gain', '500.00'],
      [11, 1, 'fee', '1.00'],
    ]);
  });

  it('rounds half-up to the cent; a commission that rounds to 0 posts nothing, a result that does is ignored', async () => {
    const parsed = await parseFlex(
      [
        trade({ proceeds: '100.005', ibCommission: '-0.004', transactionID: '1' }),
        trade({ proceeds: '0.004', ibCommission: '-1.005', transactionID: '2' }),
      ].join('\n'),
    );
    expect(parsed.records.map(brief)).toEqual([
      [5, 0, 'premium', '100.01'],
      [8, 1, 'fee', '1.01'],
    ]);
    expect(parsed.ignored).toEqual([{ line: 8, reason: 'premium of 0.004 rounds to 0.00: nothing to post' }]);
  });

  it('reads the BASE_SUMMARY ending cash as the balance, and a valuation from the equity summary', async () => {
    const parsed = await parseFlex(
      [
        '<EquitySummaryInBase>',
        '<EquitySummaryByReportDateInBase accountId="U1" currency="USD" reportDate="20261126" total="123001.5" />',
        '<EquitySummaryByReportDateInBase accountId="U1" currency="USD" reportDate="20261127" total="123916.555" />',
        '</EquitySummaryInBase>',
        '<CashReport>',
        '<CashReportCurrency accountId="U1" currency="BASE_SUMMARY" fromDate="20261102" toDate="20261127" startingCash="120000" endingCash="124368.56" />',
        '<CashReportCurrency accountId="U1" currency="USD" fromDate="20261102" toDate="20261127" startingCash="120000" endingCash="124368.56" />',
        '</CashReport>',
      ].join('\n'),
    );
    expect(parsed.lines).toBe(4);
    expect(parsed.records.map((r) => [r.line, r.kind, r.type, r.amount, r.date, r.transactionId])).toEqual([
      [5, 'valuation', null, '123001.50', '2026-11-26', null],
      [6, 'valuation', null, '123916.56', '2026-11-27', null],
      [9, 'statement_balance', null, '124368.56', '2026-11-27', null],
    ]);
    expect(parsed.ignored).toEqual([{ line: 10, reason: 'a per-currency row (USD); the BASE_SUMMARY row gives the balance' }]);
  });

  it("takes a lone cash report row, dated by its statement's toDate; refuses a negative one", async () => {
    const lone = await parseFlex('<CashReport>\n<CashReportCurrency currency="USD" endingCash="5.1" />\n</CashReport>');
    expect(lone.records.map((r) => [r.account, r.kind, r.amount, r.date])).toEqual([['U1', 'statement_balance', '5.10', '2026-11-27']]);

    const negative = await parseFlex('<CashReport>\n<CashReportCurrency currency="BASE_SUMMARY" endingCash="-12.5" />\n</CashReport>');
    expect(negative.rejected).toEqual([{ line: 5, reason: 'endingCash -12.5 is negative; a statement balance must be 0 or more' }]);
  });

  it('refuses other currencies', async () => {
    const parsed = await parseFlex(
      [
        cashTransaction({ currency: 'EUR' }),
        trade({ currency: 'CAD' }),
        '<CashReport>\n<CashReportCurrency currency="EUR" endingCash="10" />\n<CashReportCurrency currency="USD" endingCash="10" />\n</CashReport>',
      ].join('\n'),
    );
    expect(parsed.records).toEqual([]);
    expect(parsed.rejected).toEqual([
      { line: 5, reason: 'currency EUR: only USD is supported' },
      { line: 8, reason: 'currency CAD: only USD is supported' },
      { line: 11, reason: 'a cash report in several currencies without a BASE_SUMMARY row; only USD is supported' },
      { line: 12, reason: 'a cash report in several currencies without a BASE_SUMMARY row; only USD is supported' },
    ]);
  });

  it('rejects a line whose number, date, transaction id or type is missing or wrong', async () => {
    const parsed = await parseFlex(
      [
        cashTransaction({ amount: 'abc' }), // line 5
        cashTransaction({ transactionID: '' }),
        cashTransaction({ dateTime: '2026/11/03' }),
        cashTransaction({ dateTime: '20270104;100000' }),
        cashTransaction({ type: 'Bond Interest Paid' }),
        trade({ assetCategory: 'FUT' }),
        trade({ ibCommission: '' }), // line 23
      ].join('\n'),
    );
    expect(parsed.records).toEqual([]);
    expect(parsed.rejected).toEqual([
      { line: 5, reason: 'amount "abc" is not a number; expected a decimal number such as -1.05' },
      { line: 8, reason: 'transactionID is missing: it is what makes a re-import post nothing twice' },
      { line: 11, reason: 'dateTime "2026/11/03" is not a date; expected YYYYMMDD, optionally followed by ;HHMMSS' },
      { line: 14, reason: 'dated 2027-01-04, in the future (today is 2026-11-29, UTC)' },
      { line: 17, reason: expect.stringMatching(/^unsupported cash transaction type "Bond Interest Paid"; expected one of Deposits\/Withdrawals, /) },
      { line: 20, reason: 'unsupported assetCategory "FUT"; expected OPT or STK' },
      { line: 23, reason: 'ibCommission is missing' },
    ]);
  });

  it("takes the account from the FlexStatement when an element has none, and numbers a tag by the line where it starts", async () => {
    const parsed = await parseFlex('<CashTransactions>\n<CashTransaction\n  currency="USD"\n  dateTime="20261103" amount="-10" type="Other Fees" transactionID="1"\n/>\n</CashTransactions>');
    expect(parsed.records.map((r) => [r.line, r.account])).toEqual([[5, 'U1']]);
  });

  it.each([
    ['that is not well-formed', flex('<Trades>\n<Trade accountId="U1">\n</Trades>'), 6, 'not well-formed XML'],
    ['with another root', '<?xml version="1.0"?>\n<FlexStatementResponse timestamp="28 November, 2026 08:15 AM EST">\n</FlexStatementResponse>', 2, 'the root element is <FlexStatementResponse>; expected <FlexQueryResponse>'],
    ['that is not XML at all', '\ndate,account,type,amount\n', 2, 'not XML: an IBKR Flex Query starts with <FlexQueryResponse'],
    ['with text after the root', flex('') + '\ntrailing', 8, 'not well-formed XML: text data outside of root node'],
  ])('refuses a file %s, naming the line', async (_name, text, line, message) => {
    const error = await parseStatement(text, 'ibkr-flex', TODAY).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedStatement);
    expect(error).toMatchObject({ line, message: expect.stringContaining(message) });
  });

  it('refuses a response without statement lines', async () => {
    await expect(parseFlex('')).rejects.toThrow(/no lines/);
  });
});

describe('parseStatement', () => {
  it('refuses a today that is not a date', async () => {
    await expect(parseStatement(csv(), 'csv', { today: '29/11/2026' })).rejects.toThrow(RangeError);
  });
});
