import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmCodec, ENCRYPTED_ENCODING, codecFromSpec, fromJsonPayload, newCodecKeySpec, toJsonPayload } from '../../src/infra/codec';

const payload = () => defaultPayloadConverter.toPayload({ accountId: 'a', amount: '50001.01' });

describe('AES-256-GCM payload codec', () => {
  it('encrypts with the active key id in the metadata and decrypts back', async () => {
    const codec = codecFromSpec(newCodecKeySpec('k1'))!;
    const [enc] = await codec.encode([payload()]);
    expect(Buffer.from(enc!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(enc!.metadata!['encryption-key-id']!).toString()).toBe('k1');
    expect(Buffer.from(enc!.data!).toString()).not.toContain('50001.01');
    const [dec] = await codec.decode([enc!]);
    expect(defaultPayloadConverter.fromPayload(dec!)).toEqual({ accountId: 'a', amount: '50001.01' });
  });

  it('rotates keys: new payloads use the new key, old ones still decrypt', async () => {
    const old = newCodecKeySpec('old');
    const fresh = newCodecKeySpec('new');
    const [before] = await codecFromSpec(old)!.encode([payload()]);
    const rotated = codecFromSpec(`${fresh},${old}`, 'new')!;
    const [after] = await rotated.encode([payload()]);
    expect(Buffer.from(after!.metadata!['encryption-key-id']!).toString()).toBe('new');
    expect((await rotated.decode([before!, after!])).map((p) => defaultPayloadConverter.fromPayload(p))).toHaveLength(2);
    await expect(codecFromSpec(fresh)!.decode([before!])).rejects.toThrow(/no key old/);
  });

  it('refuses a tampered payload, passes plain payloads through, and rejects bad keys', async () => {
    const codec = codecFromSpec(newCodecKeySpec('k'))!;
    const [enc] = await codec.encode([payload()]);
    const data = Buffer.from(enc!.data!);
    data[20] = data[20]! ^ 1;
    await expect(codec.decode([{ ...enc!, data }])).rejects.toThrow();
    expect(await codec.decode([payload()])).toEqual([payload()]);
    expect(() => new AesGcmCodec(new Map([['k', Buffer.alloc(16)]]), 'k')).toThrow(/32 bytes/);
    expect(() => codecFromSpec('nokey')).toThrow(/TEMPORAL_CODEC_KEYS/);
  });

  it('round-trips the remote-codec JSON form', async () => {
    const p = payload();
    expect(fromJsonPayload(toJsonPayload(p))).toEqual({ metadata: { encoding: Buffer.from(p.metadata!.encoding!) }, data: Buffer.from(p.data!) });
  });
});
