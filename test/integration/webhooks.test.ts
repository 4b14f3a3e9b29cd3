import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Schemas, ok } from '../../src/client';
import { loadConfig } from '../../src/config';
import { createLogger, silentLogger } from '../../src/infra/logger';
import { type WebhookDispatcher, attemptDelivery, startWebhookDispatcher } from '../../src/notify/dispatcher';
import { emitEvent } from '../../src/notify/events';
import { verifySignature } from '../../src/notify/signature';
import { parseAllowList } from '../../src/notify/ssrf';
import { createTestDatabase } from '../support/db';
import { type TestApi, startTestApi } from '../support/api';
import { engineHelpers, eventually, okWith, refused, statusOf } from '../support/engine';

let db: { orm: MikroORM; close(): Promise<void> };
/** Allows 127.0.0.1 (the receiver). */
let api: TestApi;
/** No allow-list: loopback is refused. */
let bare: TestApi;
let receiver: Server;
let base: string;
const dispatchers: WebhookDispatcher[] = [];

interface Hit {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  /** Checked with the secret the test registered for the path. */
  signatureOk: boolean;
  status: number;
}
const hits: Hit[] = [];
const secrets = new Map<string, string>();
/** Per path: the statuses to answer, in order (the last one repeats); or a custom handler. */
const scripts = new Map<string, number[] | ((res: ServerResponse) => void)>();
const arrivals: ((h: Hit) => void)[] = [];

const log = process.env.ALLUSE_TEST_LOG ? createLogger('webhooks', 'debug') : silentLogger;
const env = { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_RETRY_INITIAL_MS: '200', WEBHOOK_RETRY_MAX_MS: '400', WEBHOOK_GIVE_UP_HOURS: '25' };
const startDispatcher = (overrides: Record<string, string> = {}) => {
  const d = startWebhookDispatcher({ orm: db.orm, log, config: loadConfig({ ...env, ...overrides }) });
  dispatchers.push(d);
  return d;
};

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.orm, 'alluse-test-unused', { webhookAllowedHosts: ['127.0.0.1'] });
  bare = await startTestApi(db.orm);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const script = scripts.get(path) ?? [404];
      const secret = secrets.get(path);
      const hit: Hit = {
        path, headers: req.headers, raw, status: 0,
        signatureOk: !!secret && verifySignature(secret, req.headers['alluse-signature'] as string, raw, 300),
      };
      hits.push(hit);
      if (typeof script === 'function') {
        hit.status = 302;
        script(res);
      } else {
        const n = hits.filter((h) => h.path === path).length;
        hit.status = script[Math.min(n, script.length) - 1]!;
        res.writeHead(hit.status, { 'content-type': 'text/plain' }).end('ok');
      }
      for (const a of arrivals.splice(0)) a(hit);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    receiver.close(() => resolve());
    receiver.closeAllConnections();
  });
  await api?.close();
  await bare?.close();
  await db?.close();
});

const nextHit = () => new Promise<Hit>((resolve) => arrivals.push(resolve));
const hitsOf = (path: string) => hits.filter((h) => h.path === path);

/** Polls `probe` until it gives a value (by a 15 s deadline). */
const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false>) => eventually(what, probe, { timeoutMs: 15_000, intervalMs: 50 });

const createPortfolio = () => engineHelpers(api.client).portfolio('300000.00', {}, { name: 'Hooks', owner: 'ops@example.com' });

type EventType = Schemas['CreateWebhook']['events'][number];
async function createWebhook(path: string, portfolioId: string, events: EventType[] = ['integrity.failed']) {
  const hook = await okWith(201, api.client.POST('/v1/webhooks', { body: { url: `${base}${path}`, events, portfolioId } }));
  secrets.set(path, hook.secret);
  return hook;
}

const emit = (portfolioId: string, data: Record<string, unknown> = {}) =>
  db.orm.em.fork().transactional((em) =>
    emitEvent(em, { type: 'integrity.failed', portfolioId, dedupeKey: `test:${randomUUID()}`, data: { portfolioId, ...data } }),
  );

const deliveries = async (webhookId: string) =>
  (await okWith(200, api.client.GET('/v1/webhooks/{id}/deliveries', { params: { path: { id: webhookId } } }))).items;

describe('webhook subscriptions', () => {
  it('is admin only', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      const as = api.as(role);
      const id = { params: { path: { id: randomUUID() } } };
      expect(await statusOf(as.GET('/v1/webhooks'))).toBe(403);
      expect(await statusOf(as.POST('/v1/webhooks', { body: { url: `${base}/x`, events: ['integrity.failed'] } }))).toBe(403);
      expect(await statusOf(as.DELETE('/v1/webhooks/{id}', id))).toBe(403);
      expect(await statusOf(as.GET('/v1/webhooks/{id}/deliveries', id))).toBe(403);
      expect(await statusOf(as.POST('/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', { params: { path: { id: randomUUID(), deliveryId: randomUUID() } } }))).toBe(403);
    }
    expect(await statusOf(api.clientFor(null).GET('/v1/webhooks'))).toBe(401);
  });

  it('validates the URL and the event types, and refuses private addresses unless allow-listed', async () => {
    const unknownEvent = await api.call('POST', '/v1/webhooks', { body: { url: `${base}/x`, events: ['integrity.failed', 'nope.happened'] } });
    expect(unknownEvent.status).toBe(400);
    expect(JSON.stringify(unknownEvent.body.errors)).toContain('events');
    const ftp = await api.call('POST', '/v1/webhooks', { body: { url: 'ftp://example.com/x', events: ['integrity.failed'] } });
    expect(ftp.status).toBe(400);
    expect((await api.call('POST', '/v1/webhooks', { body: { url: `${base}/x`, events: [] } })).status).toBe(400);

    const subscribe = (on: TestApi, body: Schemas['CreateWebhook']) => refused(ok(on.client.POST('/v1/webhooks', { body })));
    for (const url of [`${base}/x`, 'http://[::1]/x', 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.1/x', 'http://localhost/x']) {
      const refusal = await subscribe(bare, { url, events: ['integrity.failed'] });
      expect(refusal.status).toBe(422);
      expect(refusal.headers?.get('content-type')).toContain('application/problem+json');
      expect(refusal.message).toMatch(/refused: .*(loopback|link-local|private)/);
    }
    // The allow-list permits 127.0.0.1, and nothing else.
    expect((await subscribe(api, { url: 'http://127.0.0.2/x', events: ['integrity.failed'] })).status).toBe(422);

    expect((await subscribe(api, { url: `${base}/x`, events: ['integrity.failed'], portfolioId: randomUUID() })).status).toBe(404);
  });

  it('shows the secret once, lists without secrets, deletes once, and audits every write', async () => {
    const created = await okWith(201, api.client.POST('/v1/webhooks', { body: { url: `${base}/listed`, events: ['operation.completed', 'integrity.failed'] } }));
    expect(created).toMatchObject({ url: `${base}/listed`, events: ['operation.completed', 'integrity.failed'], portfolioId: null });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.createdAt).toEqual(expect.any(String));
    const list = await ok(api.client.GET('/v1/webhooks'));
    const item = list.items.find((w) => w.id === created.id);
    expect(item).toMatchObject({ url: `${base}/listed`, portfolioId: null });
    expect(JSON.stringify(list)).not.toContain('whsec_');

    const byId = { params: { path: { id: created.id } } };
    expect(await statusOf(api.client.DELETE('/v1/webhooks/{id}', byId))).toBe(204);
    expect(await statusOf(api.client.DELETE('/v1/webhooks/{id}', byId))).toBe(404);
    expect(await statusOf(api.client.GET('/v1/webhooks/{id}/deliveries', byId))).toBe(404);
    expect((await ok(api.client.GET('/v1/webhooks'))).items.map((w) => w.id)).not.toContain(created.id);

    const audit = await ok(api.client.GET('/v1/audit', { params: { query: { limit: 1000 } } }));
    const actions = audit.items.filter((a) => a.targetId === created.id).map((a) => a.action);
    expect(actions.sort()).toEqual(['webhook.created', 'webhook.deleted']);
    expect(JSON.stringify(audit)).not.toContain(created.secret);
  });
});

describe('webhook deliveries', () => {
  it('delivers an integrity.failed event exactly once, signed, through failures and a dispatcher restart', async () => {
    const p = await createPortfolio();
    const hook = await createWebhook('/integrity', p.id);
    scripts.set('/integrity', [500, 500, 200]);

    // Corrupt the portfolio: a cached balance that no longer equals its postings.
    await db.orm.em.fork().execute('update accounts set cash = cash + 1 where id = ?', [p.gen]);
    const report = await engineHelpers(api.as('viewer')).integrity(p.id);
    expect(report.ok).toBe(false);
    const [pending] = await deliveries(hook.id);
    expect(pending).toMatchObject({ type: 'integrity.failed', status: 'pending', attempts: 0 });

    const first = nextHit();
    const d1 = startDispatcher();
    await first;
    await d1.stop(); // the attempt in flight finishes and records its outcome
    const afterFirst = await deliveries(hook.id);
    expect(afterFirst).toHaveLength(1);
    expect(afterFirst[0]).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 500, lastError: 'HTTP 500' });

    startDispatcher(); // a restart: a new dispatcher finds the delivery in PostgreSQL
    const done = await waitFor('the delivery', async () => {
      const [d] = await deliveries(hook.id);
      return d?.status === 'delivered' && d;
    });
    expect(done).toMatchObject({ eventId: pending!.eventId, attempts: 3, lastStatusCode: 200, deliveredAt: expect.any(String) });
    expect(done).not.toHaveProperty('lastError');

    await new Promise((r) => setTimeout(r, 1000)); // nothing more arrives
    const got = hitsOf('/integrity');
    expect(got.map((h) => h.status)).toEqual([500, 500, 200]);
    for (const h of got) {
      expect(h.signatureOk).toBe(true);
      expect(h.headers['content-type']).toBe('application/json');
      expect(h.headers['alluse-event-id']).toBe(pending!.eventId);
      expect(h.headers['alluse-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      const body = JSON.parse(h.raw);
      expect(body).toMatchObject({ id: pending!.eventId, type: 'integrity.failed', createdAt: expect.any(String), data: { portfolioId: p.id } });
      expect(body.data.checks.map((c: { name: string }) => c.name)).toContain('cached-balances-match-postings');
    }
    // A tampered body fails verification with the same header.
    expect(verifySignature(hook.secret, got[0]!.headers['alluse-signature'] as string, got[0]!.raw.replace('integrity', 'integrjty'), 300)).toBe(false);

    // The same failure found again emits nothing new.
    expect((await engineHelpers(api.client).integrity(p.id)).ok).toBe(false);
    expect(await deliveries(hook.id)).toHaveLength(1);
  });

  it('never follows a redirect: the 3xx is a failed attempt and its target receives nothing', async () => {
    const p = await createPortfolio();
    scripts.set('/redirect', (res) => res.writeHead(302, { location: `${base}/redirect-target` }).end());
    scripts.set('/redirect-target', [200]);
    const hook = await createWebhook('/redirect', p.id);
    startDispatcher({ WEBHOOK_GIVE_UP_HOURS: '0' }); // the first failure is the last
    await emit(p.id);
    const d = await waitFor('the failure', async () => {
      const [x] = await deliveries(hook.id);
      return x?.status === 'failed' && x;
    });
    expect(d).toMatchObject({ attempts: 1, lastStatusCode: 302, lastError: 'HTTP 302' });
    await new Promise((r) => setTimeout(r, 500));
    expect(hitsOf('/redirect')).toHaveLength(1);
    expect(hitsOf('/redirect-target')).toHaveLength(0);
  });

  it('redelivers a failed delivery on request, keeping its attempts', async () => {
    const p = await createPortfolio();
    scripts.set('/flaky', [503, 200]);
    const hook = await createWebhook('/flaky', p.id);
    startDispatcher({ WEBHOOK_GIVE_UP_HOURS: '0' });
    await emit(p.id);
    const failed = await waitFor('the failure', async () => {
      const [x] = await deliveries(hook.id);
      return x?.status === 'failed' && x;
    });
    expect(failed).toMatchObject({ attempts: 1, lastStatusCode: 503 });

    const redeliver = (id: string, deliveryId: string) => api.client.POST('/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', { params: { path: { id, deliveryId } } });
    expect(await statusOf(redeliver(hook.id, randomUUID()))).toBe(404);
    expect(await statusOf(redeliver(randomUUID(), failed.id))).toBe(404);
    const again = await okWith(202, redeliver(hook.id, failed.id));
    expect(again).toMatchObject({ id: failed.id, status: 'pending', attempts: 1 });
    const delivered = await waitFor('the redelivery', async () => {
      const [x] = await deliveries(hook.id);
      return x?.status === 'delivered' && x;
    });
    expect(delivered).toMatchObject({ attempts: 2, lastStatusCode: 200 });
    expect(hitsOf('/flaky').map((h) => h.signatureOk)).toEqual([true, true]);

    const audit = await ok(api.client.GET('/v1/audit', { params: { query: { portfolioId: p.id, limit: 1000 } } }));
    expect(audit.items.map((a) => a.action)).toEqual(expect.arrayContaining(['webhook.created', 'webhook.redelivered']));
  });

  it('stops a deleted webhook\'s pending deliveries and subscribes it to nothing more', async () => {
    const p = await createPortfolio();
    scripts.set('/down', [500]);
    const hook = await createWebhook('/down', p.id);
    startDispatcher();
    await emit(p.id);
    await waitFor('a failed attempt', async () => {
      const [x] = await deliveries(hook.id);
      return (x?.attempts ?? 0) >= 1;
    });
    expect(await statusOf(api.client.DELETE('/v1/webhooks/{id}', { params: { path: { id: hook.id } } }))).toBe(204);
    await new Promise((r) => setTimeout(r, 300)); // an attempt claimed just before the delete may still arrive
    const seen = hitsOf('/down').length;
    const [row] = await db.orm.em.fork().execute<{ status: string; last_error: string }[]>(
      'select status, last_error from webhook_deliveries where webhook_id = ?', [hook.id],
    );
    expect(row).toMatchObject({ status: 'failed', last_error: 'webhook deleted' });
    await emit(p.id);
    await new Promise((r) => setTimeout(r, 1500));
    expect(hitsOf('/down').length).toBe(seen);
    const [{ n }] = await db.orm.em.fork().execute<{ n: string }[]>('select count(*) as n from webhook_deliveries where webhook_id = ?', [hook.id]) as [{ n: string }];
    expect(Number(n)).toBe(1);
  });

  it('refuses at delivery time an address the allow-list no longer permits', async () => {
    const p = await createPortfolio();
    scripts.set('/later-refused', [200]);
    const hook = await createWebhook('/later-refused', p.id);
    // This dispatcher runs without the allow-list (as after a configuration change).
    startDispatcher({ WEBHOOK_ALLOWED_HOSTS: '' });
    await emit(p.id);
    const d = await waitFor('a refused attempt', async () => {
      const [x] = await deliveries(hook.id);
      return (x?.attempts ?? 0) >= 1 && x;
    });
    expect(d.status).toBe('pending');
    expect(d.lastError).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    expect(d).not.toHaveProperty('lastStatusCode');
    expect(hitsOf('/later-refused')).toHaveLength(0);
  });

  it('delivers each event once with several dispatchers running together', async () => {
    const p = await createPortfolio();
    scripts.set('/many', [200]);
    const hook = await createWebhook('/many', p.id);
    for (let i = 0; i < 3; i++) startDispatcher();
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => emit(p.id, { i })));
    await waitFor('every delivery', async () => {
      const items = await deliveries(hook.id);
      return items.length === 30 && items.every((x) => x.status === 'delivered');
    });
    await new Promise((r) => setTimeout(r, 500));
    const got = hitsOf('/many').map((h) => h.headers['alluse-event-id']);
    expect(got).toHaveLength(30);
    expect(new Set(got)).toEqual(new Set(ids));
    expect((await deliveries(hook.id)).every((x) => x.attempts === 1)).toBe(true);
  });

  it('connects only to the addresses it checked (the connection is pinned to them)', async () => {
    scripts.set('/pinned', [200]);
    secrets.set('/pinned', 'whsec_pinned');
    const port = (receiver.address() as AddressInfo).port;
    // A name the system resolver does not know: the request can only reach the receiver through the checked answer.
    let lookups = 0;
    const resolver = async (host: string) => {
      lookups += 1;
      expect(host).toBe('receiver.alluse.test');
      return [{ address: '127.0.0.1', family: 4 as const }];
    };
    const target = { url: `http://receiver.alluse.test:${port}/pinned`, secret: 'whsec_pinned', eventId: randomUUID(), body: '{"x":1}' };
    const ok = await attemptDelivery(target, parseAllowList(['127.0.0.1']), resolver);
    expect(ok).toMatchObject({ ok: true, statusCode: 200 });
    expect(lookups).toBe(1);
    const [hit] = hitsOf('/pinned');
    expect(hit).toMatchObject({ signatureOk: true, raw: '{"x":1}' });
    expect(hit!.headers.host).toBe(`receiver.alluse.test:${port}`);

    // The same name answering a loopback address without the allow-list: refused, nothing sent.
    const refused = await attemptDelivery(target, parseAllowList([]), resolver);
    expect(refused).toMatchObject({ ok: false, refused: true });
    expect(refused.error).toMatch(/^refused: the host receiver\.alluse\.test resolves to 127\.0\.0\.1, a loopback address/);
    expect(hitsOf('/pinned')).toHaveLength(1);
  });
});
