import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. Every delivery carries
 *
 *     Alluse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * The secret is the whole `whsec_...` string, used as UTF-8 bytes. A receiver
 * recomputes the HMAC over the raw bytes it received (before any JSON
 * parsing), compares in constant time and refuses a timestamp outside its
 * tolerance, which bounds replays. Several `v1=` values may appear (accept the
 * header when any one matches).
 */

export const SIGNATURE_HEADER = 'Alluse-Signature';
export const EVENT_ID_HEADER = 'Alluse-Event-Id';

/** A new signing secret: 32 random bytes, `whsec_<base64url>`. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

const hmacHex = (secret: string, timestamp: number, rawBody: string | Buffer): string =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');

/** The `Alluse-Signature` header value for this body at this instant. */
export function signPayload(secret: string, rawBody: string | Buffer, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, timestampSeconds, rawBody)}`;
}

/**
 * True when `header` is a valid signature of `rawBody` with `secret`, made at
 * most `toleranceSeconds` away from `nowSeconds`. Never throws on a malformed
 * header (it is simply not valid).
 */
export function verifySignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string | Buffer,
  toleranceSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  if (typeof header !== 'string' || header.length > 4096) return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (!(toleranceSeconds >= 0) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  let ok = false;
  // Every candidate is compared (no early exit), each in constant time.
  for (const c of candidates) ok = timingSafeEqual(expected, Buffer.from(c, 'hex')) || ok;
  return ok;
}
