import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** `bytes` random bytes as base64url text. */
export const randomToken = (bytes = 24) => randomBytes(bytes).toString('base64url');

/**
 * A secret kept in `file` (mode 0600): made by `make` on the first start,
 * read back on every later one, so a restarted stack finds its data again.
 */
export function secret(file: string, make: () => string = () => randomToken()): string {
  if (!existsSync(file)) writeFileSync(file, `${make()}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}
