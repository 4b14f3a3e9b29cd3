/**
 * `alluse`: the engine from a terminal or a script, over the typed client
 * (src/client). bin/alluse.js runs this file through tsx. Every failure ends
 * here and becomes an exit code of exit-codes.ts with a message on stderr
 * that says what to do.
 */
import { Command, CommanderError } from 'commander';
import pc from 'picocolors';
import { activityCommands } from './commands/activity';
import { authCommands } from './commands/auth';
import { importCommands } from './commands/imports';
import { operationCommands } from './commands/operations';
import { portfolioCommands } from './commands/portfolios';
import { reportCommands } from './commands/reports';
import { taskCommands } from './commands/tasks';
import { Context, type GlobalOptions } from './context';
import { CliError, EXIT, EXIT_CODES_HELP } from './exit-codes';
import { colorWanted } from './output';

const EXAMPLES = `Examples:
  $ alluse login --url http://127.0.0.1:3000 < .data/admin-api-key
  $ alluse create Main --capital 300000.00
  $ alluse post <gen-account> premium 50001.01 --key 2026-W48-gen
  $ alluse fork <gen-account> --dry-run && alluse fork <gen-account>
  $ alluse tree Main --json | jq .totals

Configuration: \`alluse login\` writes $ALLUSE_CONFIG or
\${XDG_CONFIG_HOME:-~/.config}/alluse/config.json (mode 0600); ALLUSE_URL and
ALLUSE_API_KEY override it (the stored key is sent only to the stored URL's
origin). A non-empty NO_COLOR turns colours off, FORCE_COLOR on.`;

export function buildProgram(): Command {
  const contexts = new WeakMap<Command, Context>();
  const ctxOf = (cmd: Command): Context => {
    let ctx = contexts.get(cmd);
    if (!ctx) {
      ctx = new Context(cmd.optsWithGlobals<GlobalOptions>());
      contexts.set(cmd, ctx);
    }
    return ctx;
  };

  const program = new Command('alluse')
    .description('The ALL-USE Engine from the command line: portfolios, activity, forks, merges, reinvestments, tasks, imports and reports.')
    .version('0.1.0')
    .option('--json', 'print the API\'s JSON (one document) on stdout and nothing else')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `\n${EXAMPLES}\n\n${EXIT_CODES_HELP}`);

  authCommands(program, ctxOf);
  portfolioCommands(program, ctxOf);
  activityCommands(program, ctxOf);
  operationCommands(program, ctxOf);
  taskCommands(program, ctxOf);
  importCommands(program, ctxOf);
  reportCommands(program, ctxOf);

  // Usage errors must exit 2, on every subcommand (commander's own default is 1).
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Runs the CLI and resolves with its exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (err) {
    return report(err, argv.includes('--json'));
  }
}

function report(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // Help and --version "fail" with exit code 0; commander has already printed every message.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const c = pc.createColors(colorWanted(process.stderr, process.env, !process.argv.includes('--no-color')));
  if (err instanceof CliError) {
    if (json && err.document !== undefined) process.stdout.write(`${JSON.stringify(err.document, null, 2)}\n`);
    const lines = [`${c.red('error:')} ${err.message}`, ...err.details.map((d) => `  - ${d}`), ...err.hints.map((h) => `${c.dim('hint:')} ${h}`)];
    process.stderr.write(`${lines.join('\n')}\n`);
    return err.exitCode;
  }
  process.stderr.write(`${c.red('error:')} ${(err as Error)?.message ?? String(err)}\n`);
  if (process.env.ALLUSE_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
  else process.stderr.write(`${c.dim('hint:')} this is unexpected; run again with ALLUSE_DEBUG=1 for the stack trace and report it\n`);
  return EXIT.failure;
}

/** The bin's entry: exit with the code once stdout and stderr have drained. */
export function main(): void {
  // `alluse tree Main | head`: a reader that leaves early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  void run(process.argv).then((code) => {
    process.exitCode = code;
    // Keep-alive sockets or a stray timer must not hold the shell prompt: the timer is unref'd, so it fires only if something else is still pending.
    setTimeout(() => process.exit(code), 200).unref();
  });
}
