/**
 * The one list of the CLI's exit codes: scripts branch on these, `alluse
 * --help` prints them and docs/cli.md copies this table.
 */
export const EXIT = {
  ok: 0,
  /** A bug, or the engine failed (a 500: the message quotes its errorId). */
  failure: 1,
  /** Bad arguments, a URL whose port fetch blocks, or a request the API refused as invalid (400, 413, 415). */
  usage: 2,
  /** Not logged in, key refused (401), or its role too low (403). */
  auth: 3,
  /** An unknown portfolio, account, unit, operation, task or import (404). */
  notFound: 4,
  /** Refused by the rules (409, 422), including a dry run that is not eligible. */
  refused: 5,
  /** The operation (or import) ended without completing; a cancel that did not cancel it (it completed first). */
  notCompleted: 6,
  /** The engine is unreachable, not ready, rate-limiting, or a wait timed out; a write whose answer never came (the hint says what to check). */
  unreachable: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  unexpected failure (an engine error quotes the errorId to report)
  2  usage error: bad arguments, or input the API refused as invalid (400)
  3  not logged in, API key refused (401) or its role too low (403)
  4  not found (404): unknown portfolio, account, unit, operation, task or import
  5  refused by the rules (409, 422: NotEligible, InsufficientFunds, ...),
     also a dry run that is not eligible
  6  the operation ended but did not complete (compensated, failed,
     cancelled, expired), an import failed, or a cancel came too late
     (the operation completed or failed instead)
  7  engine unreachable or not ready, rate-limited, or a wait timed out;
     for a write with no answer, the hint says how to check before retrying`;

/**
 * A failure the CLI explains: `message` is what happened, `details` the
 * server's list (reasons, invalid fields), `hints` what to do next. main.ts
 * prints them to stderr and exits with `exitCode`.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly hints: string[] = [],
    readonly details: string[] = [],
    /** With --json: the document to print on stdout (the API's problem document). */
    readonly document?: unknown,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string, ...hints: string[]) => new CliError(message, EXIT.usage, hints);
