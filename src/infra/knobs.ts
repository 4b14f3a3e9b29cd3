/**
 * Fault knobs that change while a process runs (chaos runs only; loadConfig
 * refuses them in production). Each is a small file the chaos harness rewrites
 * atomically (write, then rename); a process re-reads it at most every
 * `refreshMs`, so every worker sees a change within that delay.
 */
import { readFileSync } from 'node:fs';

const REFRESH_MS = 250;

/** The parsed content of `path`; `fallback` while the file does not exist. A file that cannot be parsed keeps the last good value. */
export function fileKnob<T>(path: string, parse: (text: string) => T, fallback: T, refreshMs = REFRESH_MS): () => T {
  let value = fallback;
  let readAt = -Infinity;
  return () => {
    const now = performance.now();
    if (now - readAt < refreshMs) return value;
    readAt = now;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') value = fallback;
      return value;
    }
    try {
      value = parse(text);
    } catch {
      // A half-written file cannot happen with rename; anything else unparsable keeps what was there.
    }
    return value;
  };
}

/** The engine's clock: the system clock plus the offset (milliseconds) in `offsetFile`; the system clock without one. */
export function engineClock(offsetFile?: string): (() => Date) | undefined {
  if (!offsetFile) return undefined;
  const offset = fileKnob(offsetFile, parseOffset, 0);
  return () => new Date(Date.now() + offset());
}

function parseOffset(text: string): number {
  const ms = Number(text.trim());
  if (!Number.isSafeInteger(ms)) throw new Error(`not a whole number of milliseconds: ${text.slice(0, 40)}`);
  return ms;
}

export interface BrokerWeather {
  /** Share of calls (0..1) that fail with BrokerUnavailable. */
  failureRate: number;
  /** Share of calls (0..1) that hang past the step's timeout. */
  timeoutRate: number;
}

/** The paper broker's fault rates from a JSON file `{ "failureRate": 0.3, "timeoutRate": 0.1 }`; calm while it does not exist. */
export function brokerWeather(file: string): () => BrokerWeather {
  return fileKnob(file, parseWeather, { failureRate: 0, timeoutRate: 0 });
}

function parseWeather(text: string): BrokerWeather {
  const raw = JSON.parse(text) as Partial<BrokerWeather>;
  const rate = (v: unknown) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error('a rate must be a number between 0 and 1');
    return v;
  };
  return { failureRate: rate(raw.failureRate ?? 0), timeoutRate: rate(raw.timeoutRate ?? 0) };
}
