/**
 * `npm run test:chaos -- --seed N --minutes M`: the seeded chaos run (seeded.ts):
 * a fault schedule drawn from the seed during a mixed load over HTTP, then the
 * checks; exits 1 on a lost or duplicated operation or posting, or a failed
 * integrity check. Without --seed a seed is drawn and printed, so any run can
 * be repeated. `--scenarios` runs the fixed one-fault scenarios instead
 * (scenarios.ts). `--help` lists the options.
 */
import { parseArgs } from 'node:util';
import { runScenarios } from './scenarios';
import { DEFAULTS, runSeeded } from './seeded';

const USAGE = `usage: npm run test:chaos -- [--seed N] [--minutes M] [options]
       npm run test:chaos -- --scenarios

  --seed N              the fault schedule and the load's choices (default: a random seed, printed)
  --minutes M           length of the load (default ${DEFAULTS.minutes}); faults fall in its first 80%
  --min-operations K    the load goes on (up to 2 M minutes) until K operations were asked for (default ${DEFAULTS.minOperations})
  --lanes L             concurrent operation lanes, two per portfolio (default ${DEFAULTS.lanes})
  --postings-per-second R  rate of the posting clients (default ${DEFAULTS.postingsPerSecond})
  --recovery-minutes T  time after the load for every operation to end (default ${DEFAULTS.recoveryMinutes})
  --scenarios           the fixed one-fault scenarios (results in chaos/results/scenarios.md)`;

class UsageError extends Error {}

function positive(name: string, raw: string | undefined, fallback: number, integer = true): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a positive ${integer ? 'whole ' : ''}number, not ${raw}`);
  return n;
}

async function main(): Promise<boolean> {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' }, minutes: { type: 'string' }, 'min-operations': { type: 'string' }, lanes: { type: 'string' },
      'postings-per-second': { type: 'string' }, 'recovery-minutes': { type: 'string' }, scenarios: { type: 'boolean' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return true;
  }
  if (values.scenarios) return runScenarios();
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new UsageError(`--seed must be a whole number from 0 to ${2 ** 32 - 1}`);
  return runSeeded({
    seed,
    minutes: positive('minutes', values.minutes, DEFAULTS.minutes, false),
    minOperations: positive('min-operations', values['min-operations'], DEFAULTS.minOperations),
    lanes: positive('lanes', values.lanes, DEFAULTS.lanes),
    postingsPerSecond: positive('postings-per-second', values['postings-per-second'], DEFAULTS.postingsPerSecond, false),
    recoveryMinutes: positive('recovery-minutes', values['recovery-minutes'], DEFAULTS.recoveryMinutes, false),
    workers: DEFAULTS.workers,
    apis: DEFAULTS.apis,
  });
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    const usage = err instanceof UsageError || String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
    console.error(usage ? `${(err as Error).message}\n\n${USAGE}` : err);
    process.exit(1);
  },
);
