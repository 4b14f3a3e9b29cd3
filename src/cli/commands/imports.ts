import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { type Command, Option } from 'commander';
import type { operations } from '../../client';
import { resolvePortfolio, seconds } from '../args';
import type { Context } from '../context';
import { CliError, EXIT, usage } from '../exit-codes';
import { money } from '../output';
import { Poller } from '../poll';
import { progressEnabled, startProgress } from '../progress';
import type { ContextOf } from './shared';

type Format = 'csv' | 'ibkr-flex';
type ImportView = operations['getImport']['responses'][200]['content']['application/json'];

interface DryRunView {
  dryRun: true;
  lines: number;
  posted: number;
  duplicates: number;
  rejected: { line: number; reason: string }[];
  ignored: { line: number; reason: string }[];
  reconciliation: ImportView['reconciliation'];
}

const CONTENT_TYPE: Record<Format, string> = { csv: 'text/csv', 'ibkr-flex': 'application/xml' };

export function importCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('import')
    .description('import a broker statement (generic CSV or IBKR Flex Query XML); each line posts once however often it is imported')
    .argument('<portfolio>', 'portfolio id, name or id prefix')
    .argument('<file>', 'the statement file')
    .addOption(new Option('--format <format>', 'default: from the extension (.csv, .xml)').choices(['csv', 'ibkr-flex']))
    .option('--dry-run', 'show what would be posted; store nothing')
    .option('--atomic', 'post every line or none')
    .option('--timeout <seconds>', 'stop waiting after this long (exit 7; the import goes on)', seconds)
    .action(async (ref: string, file: string, o: { format?: Format; dryRun?: boolean; atomic?: boolean; timeout?: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const format = o.format ?? formatOf(file);
      const text = readStatement(file);
      const portfolioId = await resolvePortfolio(ctx, ref);
      const answer = await ctx.call(ctx.api.POST('/v1/portfolios/{id}/imports', {
        params: { path: { id: portfolioId }, query: { format, dryRun: o.dryRun ? 'true' : 'false', atomic: o.atomic ? 'true' : 'false' } },
        body: text,
        // The statement goes as it is, not as a JSON string.
        bodySerializer: (body: string) => body,
        headers: { 'content-type': CONTENT_TYPE[format] },
      }), {
        404: `no portfolio ${portfolioId}`,
        ...(!o.dryRun && { unsure: 'it may have started: check `alluse ops --type import`; importing the file again is safe (a line never posts twice)' }),
      }) as unknown;
      if (o.dryRun) {
        const dry = answer as DryRunView;
        return ctx.out.emit(dry, () => {
          ctx.out.line(`Dry run of ${file} (${format}): nothing was stored.`);
          summary(ctx, { ...dry, pending: 0 });
        });
      }
      const { importId } = answer as { importId: string };
      const done = await waitForImport(ctx, importId, o.timeout);
      ctx.out.emit(done, () => {
        ctx.out.line(`Import ${done.id} of ${file} (${format}) ${done.status}.`);
        summary(ctx, done);
      });
      if (done.status === 'failed') throw new CliError(`the import failed: ${done.error ?? 'see above'}`, EXIT.notCompleted);
      const rejected = lineCount(done.rejected);
      if (rejected) ctx.out.warn(`${rejected} line${rejected === 1 ? '' : 's'} rejected: fix ${rejected === 1 ? 'it' : 'them'} in the statement and import it again (posted lines will not post twice)`);
    });
}

function formatOf(file: string): Format {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.xml') return 'ibkr-flex';
  throw usage(`cannot tell the format of ${file} from its extension`, 'add --format csv or --format ibkr-flex');
}

function readStatement(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The statement lines a list names: one line can have several entries (an
 * IBKR trade and its commission are two postings of one line, both rejected
 * for an unknown account).
 */
export function lineCount(items: readonly { line: number }[]): number {
  return new Set(items.map((i) => i.line)).size;
}

/** Polls the import (backing off, retrying a transient failure: poll.ts), drawing a bar of postings settled over all of them. */
async function waitForImport(ctx: Context, importId: string, timeoutSeconds?: number): Promise<ImportView> {
  const poll = new Poller(ctx, { timeoutSeconds, answered: true, what: `import ${importId}`, resume: 'alluse ops --type import' });
  const progress = startProgress(progressEnabled(ctx.out.json), (line) => ctx.out.line(line));
  let last: ImportView | undefined;
  try {
    for (;;) {
      const view = await poll.fetch((api) => api.GET('/v1/imports/{id}', { params: { path: { id: importId } } }), { 404: `no import ${importId}` },
        (why) => progress.update(`${why}; retrying`));
      let changed = false;
      if (view) {
        if (view.status === 'completed' || view.status === 'failed') return view;
        // `rejected` has one entry per refused posting, as `pending`, `posted` and `duplicates` count postings.
        const settled = view.posted + view.duplicates + view.rejected.length;
        changed = !last || view.status !== last.status || settled !== last.posted + last.duplicates + last.rejected.length;
        last = view;
        progress.update(`${view.status}`, settled, settled + view.pending);
      }
      if (poll.timedOut) {
        // With --json the last state seen is the document, as for a followed operation.
        throw new CliError(`import ${importId} is still ${last?.status ?? 'unknown'} after ${timeoutSeconds} s`, EXIT.unreachable,
          [last ? `it goes on in the engine: \`alluse watch ${last.operationId}\`` : 'it goes on in the engine: `alluse ops --type import`'], [], last);
      }
      await poll.pause(changed);
    }
  } finally {
    progress.stop();
  }
}

function summary(ctx: Context, v: Pick<ImportView, 'lines' | 'posted' | 'duplicates' | 'pending' | 'rejected' | 'ignored' | 'reconciliation'>): void {
  const { out } = ctx;
  const { c } = out;
  out.line();
  const rejected = lineCount(v.rejected);
  out.table([{ title: 'LINES', align: 'right' }, { title: 'POSTED', align: 'right' }, { title: 'DUPLICATES', align: 'right' }, { title: 'REJECTED', align: 'right' }, { title: 'IGNORED', align: 'right' }],
    [[String(v.lines), String(v.posted), String(v.duplicates), rejected ? c.red(String(rejected)) : '0', String(lineCount(v.ignored))]]);
  out.line(c.dim('(lines of the statement; posted and duplicates count postings: a trade and its commission are two)'));
  if (v.rejected.length) {
    out.line();
    out.line(c.red('Rejected lines:'));
    // Both postings of a line refused for the same reason are one row.
    const rows = [...new Map(v.rejected.map((r) => [`${r.line} ${r.reason}`, [String(r.line), r.reason]])).values()];
    out.table([{ title: 'LINE', align: 'right' }, { title: 'REASON' }], rows, '  ');
  }
  if (v.reconciliation.length) {
    out.line();
    out.line('Reconciliation with the statement:');
    out.table(
      [{ title: 'BROKER ACCOUNT' }, { title: 'DATE' }, { title: 'STATEMENT', align: 'right' }, { title: 'ENGINE', align: 'right' }, { title: 'DIFFERENCE', align: 'right' }],
      v.reconciliation.map((r) => [r.brokerAccountId ?? r.accountId, r.date, money(r.statementBalance), money(r.engineBalance),
        /^-?0(\.0+)?$/.test(r.difference) ? c.green(money(r.difference)) : c.red(money(r.difference))]),
      '  ',
    );
  }
}
