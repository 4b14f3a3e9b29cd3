import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { MikroORM } from '@mikro-orm/postgresql';
import { authenticate } from '../../src/api/auth';
import { rateLimit } from '../../src/api/rate-limit';
import { ormConfig } from '../../src/db/orm';
import { silentLogger } from '../../src/infra/logger';
import { ApiKeyService } from '../../src/services/api-keys';
import { RateLimitService } from '../../src/services/rate-limits';
import { createTestDatabase } from '../support/db';
import { type TestApiProcess, startApiProcess } from '../support/spawn-api';
import { type TcpProxy, startTcpProxy } from '../support/tcp-proxy';

type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>;
const newKey = () => `alu_${randomBytes(32).toString('base64url')}`;

/**
 * A limit this low refills one request every 20 s, far longer than the requests below take
 * even on a loaded machine, so "exactly N accepted" does not depend on timing.
 */
const PER_MINUTE = 3;

describe('one rate limit shared by two API processes', () => {
  let db: TestDatabase;
  let a: TestApiProcess;
  let b: TestApiProcess;
  const admin = newKey();

  beforeAll(async () => {
    db = await createTestDatabase();
    await new ApiKeyService(db.orm).create('test admin', 'admin', 'test', admin);
    const env = { DATABASE_URL: db.url, ALLUSE_ADMIN_API_KEY: admin, RATE_LIMIT_PER_MINUTE: String(PER_MINUTE) };
    [a, b] = await Promise.all([startApiProcess(env), startApiProcess(env)]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.close();
  });

  /** A key of its own for each test, made directly in the database (the admin's budget is small too). */
  const freshKey = async () => {
    const key = newKey();
    await new ApiKeyService(db.orm).create(`limited ${key.slice(4, 10)}`, 'viewer', 'test', key);
    return key;
  };
  const get = async (api: TestApiProcess, key: string) => {
    const res = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { detail?: string } };
  };

  it('accepts exactly N requests in all from requests alternating between the processes, then answers 429 with Retry-After', async () => {
    const key = await freshKey();
    const answers = [];
    for (let i = 0; i < 2 * PER_MINUTE + 2; i++) answers.push({ on: i % 2 ? 'B' : 'A', ...(await get(i % 2 ? b : a, key)) });
    expect(answers.map((x) => `${x.on}:${x.status}`)).toEqual(['A:200', 'B:200', 'A:200', 'B:429', 'A:429', 'B:429', 'A:429', 'B:429']);
    for (const refused of answers.filter((x) => x.status === 429)) {
      expect(refused.body.detail).toBe(`rate limit of ${PER_MINUTE} requests per minute exceeded for this API key`);
      // The bucket is empty: a whole token (20 s at 3 a minute) or a little less until the next request.
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60 / PER_MINUTE);
    }
    // Each process logs the refusals it made.
    for (const api of [a, b]) expect(api.output()).toContain('"rate limit exceeded"');
  });

  it('accepts exactly N of many concurrent requests sent to both processes at once', async () => {
    const key = await freshKey();
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => get(i % 2 ? b : a, key)));
    const statuses = answers.map((x) => x.status).sort();
    expect(statuses).toEqual([...Array(PER_MINUTE).fill(200), ...Array(12 - PER_MINUTE).fill(429)]);
  });

  it('limits each key on its own', async () => {
    const [spent, other] = [await freshKey(), await freshKey()];
    for (let i = 0; i < PER_MINUTE; i++) expect((await get(i % 2 ? b : a, spent)).status).toBe(200);
    expect((await get(a, spent)).status).toBe(429);
    expect((await get(a, other)).status).toBe(200);
    expect((await get(b, other)).status).toBe(200);
  });
});

describe('RateLimitService', () => {
  let db: TestDatabase;
  let limits: RateLimitService;
  beforeAll(async () => {
    db = await createTestDatabase();
    limits = new RateLimitService(db.orm);
  });
  afterAll(() => db?.close());

  const keyId = () => crypto.randomUUID();
  const bucket = async (id: string) =>
    (await db.orm.em.fork().execute<{ tokens: number }[]>('select tokens from rate_limit_buckets where key_id = ?', [id]))[0];

  it('refills at the rate per minute, up to the burst, by the database clock', async () => {
    const id = keyId();
    for (let i = 0; i < 60; i++) expect(await limits.take(id, 60)).toEqual({ allowed: true });
    const refused = await limits.take(id, 60);
    expect(refused).toMatchObject({ allowed: false });
    expect((refused as { retryAfterSeconds: number }).retryAfterSeconds).toBe(1);
    // Thirty seconds later (moved back by hand): half the bucket is there again, and no more than the burst after an hour.
    await db.orm.em.fork().execute(`update rate_limit_buckets set refilled_at = refilled_at - interval '30 seconds' where key_id = ?`, [id]);
    expect(await limits.take(id, 60)).toEqual({ allowed: true });
    expect((await bucket(id))!.tokens).toBeGreaterThanOrEqual(29 - 1e-6);
    expect((await bucket(id))!.tokens).toBeLessThan(30);
    await db.orm.em.fork().execute(`update rate_limit_buckets set refilled_at = refilled_at - interval '1 hour' where key_id = ?`, [id]);
    expect(await limits.take(id, 60)).toEqual({ allowed: true });
    expect((await bucket(id))!.tokens).toBe(59);
  });

  it('sweeps the buckets left idle for two minutes, and only those', async () => {
    const [idle, busy] = [keyId(), keyId()];
    await limits.take(idle, 10);
    await limits.take(busy, 10);
    await db.orm.em.fork().execute(`update rate_limit_buckets set refilled_at = now() - interval '3 minutes' where key_id = ?`, [idle]);
    expect(await limits.sweep()).toBe(1);
    expect(await bucket(idle)).toBeUndefined();
    expect(await bucket(busy)).toBeDefined();
  });
});

describe('when PostgreSQL cannot be reached', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let orm: MikroORM;
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let url: string;
  const key = newKey();

  beforeAll(async () => {
    db = await createTestDatabase();
    await new ApiKeyService(db.orm).create('cut off', 'viewer', 'test', key);
    const pg = new URL(db.url);
    proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    // A pool that gives up on a connection after 2 s (the default waits a minute).
    orm = await MikroORM.init({ ...ormConfig(viaProxy.toString(), 2), pool: { min: 0, max: 2, acquireTimeoutMillis: 2000 } });
    // The real middlewares, in the app's order, over services on that database.
    const app = express();
    app.use(authenticate(new ApiKeyService(orm), silentLogger), rateLimit(new RateLimitService(orm), 100, silentLogger));
    app.get('/v1/me', (_req, res) => void res.json({ ok: true }));
    await new Promise<void>((ready) => (server = app.listen(0, '127.0.0.1', () => ready())));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/me`;
  });
  afterAll(async () => {
    await new Promise((done) => server?.close(done));
    await orm?.close();
    await proxy?.close();
    await db?.close();
  });

  it('answers 503 with Retry-After, never lets requests through unlimited', async () => {
    const get = () => fetch(url, { headers: { authorization: `Bearer ${key}` } });
    expect((await get()).status).toBe(200);
    proxy.cut();
    try {
      // The key may still be in the cache (the first request loaded it): then the rate limit is what cannot be read.
      for (let i = 0; i < 2; i++) {
        const res = await get();
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(await res.json()).toMatchObject({ status: 503, detail: 'the service is unavailable for a moment: try again shortly' });
      }
    } finally {
      proxy.restore();
    }
    expect((await get()).status).toBe(200);
  });
});
