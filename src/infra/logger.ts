import pino, { type DestinationStream, type Logger as Pino } from 'pino';
import { currentRequestId } from './request-context';

/**
 * Structured logs: pino, one JSON line per event on stderr, e.g.
 * `{"level":"info","time":"2026-11-30T09:00:00.000Z","component":"api","requestId":"…","msg":"…",…}`.
 * A line written while serving an API request or running an activity carries
 * that request's `requestId` (see request-context.ts). Secrets are redacted.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds these fields to every line. */
  child(fields: Record<string, unknown>): Logger;
}

const SECRET_FIELDS = ['authorization', 'Authorization', 'key', 'secret', 'apiKey', 'password', 'token'];

/** Field paths whose values never reach the log: at the top level, one level down (`headers.authorization`) and two. */
export const REDACTED_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

let stderr: DestinationStream | undefined;

/**
 * A logger for one component. `destination` is for tests; by default lines go
 * to stderr synchronously, so nothing is lost when the process exits.
 */
export function createLogger(component: string, level: Level = 'info', destination?: DestinationStream): Logger {
  const p = pino(
    {
      level,
      base: { component },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      mixin: () => {
        const requestId = currentRequestId();
        return requestId ? { requestId } : {};
      },
    },
    destination ?? (stderr ??= pino.destination({ fd: 2, sync: true })),
  );
  return wrap(p);
}

function wrap(p: Pino): Logger {
  const emit = (l: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (fields) p[l](fields, msg);
    else p[l](msg);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), child: (fields) => wrap(p.child(fields)) };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
