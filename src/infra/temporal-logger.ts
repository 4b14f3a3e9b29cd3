import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import type { Level, Logger } from './logger';

const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };
const TO_OURS: Record<LogLevel, Level> = { TRACE: 'debug', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };
const FROM_OURS: Record<Level, LogLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
/** The engine's own lines: `log` in workflow code and `Context.current().log` in activities. */
const APP_COMPONENTS = new Set(['workflow', 'activity']);

/**
 * The Temporal SDK's `Logger` (passed to `Runtime.install`) writing through
 * the engine's pino logger, so workflow, activity, worker and Core lines are
 * the same JSON as the rest (with `sdkComponent`, the workflow and activity
 * ids, and `requestId` from the interceptors). Lines from workflow and
 * activity code pass at the engine's level; the SDK's own (`worker`, `core`)
 * at `sdkLevel`, which keeps its chatter out of an `info` log.
 */
export class TemporalLogger implements SdkLogger {
  private readonly appMin: number;
  private readonly sdkMin: number;

  constructor(
    private readonly out: Logger,
    opts: { level: Level; sdkLevel: LogLevel },
  ) {
    this.appMin = SEVERITY[FROM_OURS[opts.level]];
    this.sdkMin = SEVERITY[opts.sdkLevel];
  }

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const component = meta?.sdkComponent as string | undefined;
    const min = component && APP_COMPONENTS.has(component) ? this.appMin : this.sdkMin;
    if ((SEVERITY[level] ?? SEVERITY.INFO) < min) return;
    // Only string keys: the SDK also passes symbols (its own timestamp) that mean nothing in JSON.
    const fields: Record<string, unknown> = {};
    for (const k of Object.keys(meta ?? {})) fields[k] = meta![k];
    this.out[TO_OURS[level] ?? 'info'](message, fields);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }

  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }

  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }

  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }

  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
