import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b?: Uint8Array | null) => (b ? Buffer.from(b).toString('utf8') : undefined);

/**
 * AES-256-GCM payload codec: every payload the client and worker send to
 * Temporal is serialised and encrypted (random 96-bit IV, 128-bit tag), with
 * the key id in its metadata so keys can rotate: new payloads use the active
 * key, old ones decrypt with whichever key they name.
 */
export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    private readonly activeKeyId: string,
  ) {
    if (!keys.has(activeKeyId)) throw new Error(`codec: active key ${activeKeyId} is not among the keys`);
    for (const [id, k] of keys) if (k.length !== 32) throw new Error(`codec: key ${id} must be 32 bytes (AES-256)`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.activeKeyId)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID]: utf8(this.activeKeyId) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
      const id = text(p.metadata?.[KEY_ID]);
      const key = id ? this.keys.get(id) : undefined;
      if (!key) throw new Error(`codec: no key ${id ?? '(none)'} to decrypt this payload`);
      const data = Buffer.from(p.data ?? []);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/**
 * Keys from the environment: `TEMPORAL_CODEC_KEYS="<id>:<base64 32 bytes>,..."`
 * and `TEMPORAL_CODEC_KEY_ID` (default: the first). Unset keys: no codec.
 */
export function codecFromSpec(spec: string | undefined, activeKeyId?: string): AesGcmCodec | undefined {
  if (!spec) return undefined;
  const keys = new Map<string, Buffer>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf(':');
    if (i <= 0) throw new Error('TEMPORAL_CODEC_KEYS must look like "<id>:<base64 key>,..."');
    keys.set(part.slice(0, i), Buffer.from(part.slice(i + 1), 'base64'));
  }
  return new AesGcmCodec(keys, activeKeyId ?? [...keys.keys()][0]!);
}

export const newCodecKeySpec = (id = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`) => `${id}:${randomBytes(32).toString('base64')}`;

/** The Temporal remote-codec JSON form: metadata values and data as base64. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export const fromJsonPayload = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

export const toJsonPayload = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});
