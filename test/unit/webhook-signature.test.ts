import { createHmac } from 'node:crypto';
import { newWebhookSecret, signPayload, verifySignature } from '../../src/notify/signature';
import { backoffMs } from '../../src/notify/dispatcher';

describe('webhook signatures', () => {
  const secret = 'whsec_test-secret';
  const body = '{"id":"e1","type":"integrity.failed","createdAt":"2026-11-29T00:00:00.000Z","data":{}}';

  it('signs "<t>.<raw body>" with HMAC-SHA256 as t=<unix seconds>,v1=<hex>', () => {
    const header = signPayload(secret, body, 1_800_000_000);
    const expected = createHmac('sha256', secret).update(`1800000000.${body}`).digest('hex');
    expect(header).toBe(`t=1800000000,v1=${expected}`);
  });

  it('verifies a fresh signature, as a string or as raw bytes', () => {
    const header = signPayload(secret, body);
    expect(verifySignature(secret, header, body, 300)).toBe(true);
    expect(verifySignature(secret, header, Buffer.from(body), 300)).toBe(true);
  });

  it('refuses another secret, a changed body, a stale or future timestamp', () => {
    const header = signPayload(secret, body, 1_800_000_000);
    expect(verifySignature('whsec_other', header, body, 300, 1_800_000_000)).toBe(false);
    expect(verifySignature(secret, header, `${body} `, 300, 1_800_000_000)).toBe(false);
    expect(verifySignature(secret, header, body, 300, 1_800_000_301)).toBe(false);
    expect(verifySignature(secret, header, body, 300, 1_799_999_699)).toBe(false);
    expect(verifySignature(secret, header, body, 300, 1_800_000_300)).toBe(true);
  });

  it('refuses malformed headers without throwing', () => {
    for (const h of [undefined, null, '', 't=', 'v1=abc', 't=1800000000', 't=x,v1=00', `t=1800000000,v1=${'g'.repeat(64)}`, 'a'.repeat(5000)]) {
      expect(verifySignature(secret, h, body, 300, 1_800_000_000)).toBe(false);
    }
  });

  it('accepts the header when any one of several v1 values matches', () => {
    const good = signPayload(secret, body, 1_800_000_000);
    const other = signPayload('whsec_old', body, 1_800_000_000).split(',')[1];
    expect(verifySignature(secret, `${good},${other}`, body, 300, 1_800_000_000)).toBe(true);
    expect(verifySignature(secret, `t=1800000000,${other}`, body, 300, 1_800_000_000)).toBe(false);
  });

  it('makes secrets of 32 random bytes', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(6), 'base64url')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe('webhook retry backoff', () => {
  it('doubles from the initial delay up to the cap, with up to half of it random', () => {
    expect(backoffMs(1, 10_000, 3_600_000, () => 1)).toBe(10_000);
    expect(backoffMs(1, 10_000, 3_600_000, () => 0)).toBe(5_000);
    expect(backoffMs(2, 10_000, 3_600_000, () => 1)).toBe(20_000);
    expect(backoffMs(5, 10_000, 3_600_000, () => 1)).toBe(160_000);
    expect(backoffMs(30, 10_000, 3_600_000, () => 1)).toBe(3_600_000);
    expect(backoffMs(10_000, 10_000, 3_600_000, () => 0.5)).toBe(2_700_000);
  });

  it('keeps retrying for at least a day with the defaults (10 s doubling to 1 h, give up after 25 h)', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 24 * 3_600_000) {
      attempts += 1;
      elapsed += backoffMs(attempts, 10_000, 3_600_000, () => 0);
    }
    // Worst case (all jitter at its minimum) is still a bounded number of attempts.
    expect(attempts).toBeLessThan(60);
  });
});
