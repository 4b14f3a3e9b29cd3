/**
 * `npm run stack:production`: the production topology on this machine
 * (see ./index.ts), in the foreground until Ctrl-C or SIGTERM, which stop
 * the APIs, the workers, Temporal and PostgreSQL in that order.
 *
 * Environment (all optional):
 *   ALLUSE_STACK_DIR       where it keeps everything (default .data/production)
 *   STACK_PG_PORT          PostgreSQL's port
 *   STACK_TEMPORAL_PORT    the Temporal frontend's port
 *   STACK_API_PORTS        the two APIs' ports, comma-separated (e.g. 3001,3002)
 *   LOG_LEVEL              the engine processes' log level (their logs: <dir>/logs/)
 * A port left unset is a free one, shown in the banner.
 */
import { resolve } from 'node:path';
import { leaveShutdownSignalsToCaller } from '../../src/infra/embedded-postgres';
import { startProductionStack } from './index';
import { HISTORY_SHARDS } from './temporal-server';

function port(name: string, raw = process.env[name]): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must hold port numbers, not ${raw}`);
  return n;
}

function ports() {
  const apis = process.env.STACK_API_PORTS?.split(',').map((p) => port('STACK_API_PORTS', p)!);
  return { postgres: port('STACK_PG_PORT'), temporal: port('STACK_TEMPORAL_PORT'), apis };
}

function logLevel(): 'debug' | 'info' | 'warn' | 'error' {
  const level = process.env.LOG_LEVEL ?? 'info';
  if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error') return level;
  throw new Error(`LOG_LEVEL must be debug, info, warn or error, not ${level}`);
}

async function main(): Promise<void> {
  // This process stops PostgreSQL itself, last, after the engine processes and Temporal.
  leaveShutdownSignalsToCaller();
  const dir = resolve(process.env.ALLUSE_STACK_DIR ?? '.data/production');
  const started = Date.now();
  const starting = startProductionStack({
    dir,
    ports: ports(),
    logLevel: logLevel(),
    say: (line) => process.stdout.write(`[stack] ${line}\n`),
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the APIs, workers, Temporal and PostgreSQL\n`);
    // A stack still starting is stopped once it has started (a failed start has stopped itself).
    await starting.then((stack) => stack.stop(), () => undefined);
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  // `on`, not `once`: a Ctrl-C often arrives twice (from the terminal and relayed by npm), and a repeat
  // with no listener left would end this process mid-shutdown.
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const s = await starting;
  if (stopping) return;
  process.stdout.write([
    '',
    `ALL-USE Engine: production topology on this machine (started in ${((Date.now() - started) / 1000).toFixed(0)} s)`,
    ...s.apis.map((a) => `  API ${a.name.slice(4)}         ${a.url}   (docs: ${a.url}/docs)`),
    `  Temporal      ${s.temporal.address}   (namespace ${s.temporal.namespace}, ${HISTORY_SHARDS} history shards, PostgreSQL persistence and visibility; metrics ${s.temporal.metricsUrl})`,
    `  PostgreSQL    127.0.0.1:${s.postgres.port}   (databases alluse, temporal, temporal_visibility)`,
    `  workers       ${s.workers.map((w) => `${w.name} (pid ${w.pid}, metrics ${w.url}/metrics)`).join(', ')}`,
    `  admin API key ${s.adminKeyFile} (mode 0600)`,
    `  data, logs    ${s.dir}, ${s.logDir}`,
    '  Ctrl-C stops everything.',
    '',
  ].join('\n') + '\n');
  // A part that dies on its own is reported, not hidden: the rest keeps running, as it would in a deployment.
  for (const part of [...s.apis, ...s.workers]) {
    void part.exited.then((how) => {
      if (!stopping) process.stderr.write(`[stack] ${part.name} exited (${how}); its last lines:\n${part.tail()}\n`);
    });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`stack:production failed: ${err.message}\n`);
  process.exit(1);
});
