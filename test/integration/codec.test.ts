import { loadConfig } from '../../src/config';
import { codecFromSpec, newCodecKeySpec, toJsonPayload } from '../../src/infra/codec';
import { connectClient } from '../../src/infra/temporal';
import { type TestApi, startTestApi } from '../support/api';
import { useProtocolStack } from '../support/stack';

const UI = 'http://127.0.0.1:8233';
const codec = codecFromSpec(newCodecKeySpec('test-key'))!;
// As under `npm start` (development): the dev server's UI in a local browser calls the endpoint without a key.
const { api, h, db } = useProtocolStack({ codec, uiOrigins: [UI], codecTrustsLoopback: true });

it('stores workflow payloads encrypted in Temporal, while the API and the UI codec endpoint read them', async () => {
  const p = await h.portfolio();
  await h.activity(p.rev, 'premium', '10000.00');
  const op = await h.reinvest(p.rev, { quarter: '2026Q3' });
  expect(op.status).toBe('completed');
  expect(op.result.summary).toMatchObject({ contracts: '7125.00', leaps: '2375.00' });

  // What Temporal stores (read without the codec): ciphertext only.
  const raw = await connectClient(process.env.ALLUSE_TEST_TEMPORAL_ADDRESS!, 'default');
  const history = await raw.workflow.getHandle(op.operationId).fetchHistory();
  await raw.connection.close();
  const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  expect(Buffer.from(input.metadata!.encoding!).toString()).toBe('binary/encrypted');
  expect(Buffer.from(input.data!).toString('latin1')).not.toContain(p.rev);

  // What the Web UI gets from the codec endpoint (CORS for its origin only).
  const preflight = await fetch(`${api.url}/codec/decode`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'POST' } });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
  const decoded = await fetch(`${api.url}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: UI },
    body: JSON.stringify({
      payloads: [{
        metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
        data: Buffer.from(input.data!).toString('base64'),
      }],
    }),
  });
  const body = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
  expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toMatchObject({ accountId: p.rev, quarter: '2026Q3' });
  const foreign = await fetch(`${api.url}/codec/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
  expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  expect((await api.call('POST', '/codec/decode', { body: { nope: 1 } })).status).toBe(400);
});

describe('the codec endpoint in production, where callers on loopback are not trusted', () => {
  let strict: TestApi;
  beforeAll(async () => {
    // No trustLoopback: the endpoint's own default, which production keeps (config.ts: TEMPORAL_CODEC_TRUST_LOOPBACK unset).
    strict = await startTestApi(db.orm, 'alluse-test-unused', { codec: { codec, uiOrigins: [UI] } });
  });
  afterAll(() => strict?.close());

  const secret = { accountId: 'acc-1', amount: '50001.01' };
  const encrypted = async () => toJsonPayload((await codec.encode([{
    metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode(JSON.stringify(secret)),
  }]))[0]!);
  const post = async (op: 'decode' | 'encode', authorization?: string) => fetch(`${strict.url}/codec/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: UI, ...(authorization && { authorization }) },
    body: JSON.stringify({ payloads: [await encrypted()] }),
  });

  it('refuses a caller on this machine without a key, as it would a reverse proxy forwarding anyone', async () => {
    for (const op of ['decode', 'encode'] as const) {
      const res = await post(op);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const body = (await res.json()) as { detail: string; payloads?: unknown };
      expect(body.detail).toMatch(/viewer key/);
      expect(body.payloads).toBeUndefined();
    }
    expect((await post('decode', 'Bearer alu_not-a-key-at-all-000000000000')).status).toBe(401);
    // The browser's preflight carries no key: it is answered for the UI's origin, and grants nothing by itself.
    const preflight = await fetch(`${strict.url}/codec/decode`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('decodes for a caller with a viewer key', async () => {
    const res = await post('decode', `Bearer ${strict.keys.viewer}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    expect(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString())).toEqual(secret);
  });

  it('is the default in production (TEMPORAL_CODEC_TRUST_LOOPBACK opts in), and the development default is to trust', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@db:5432/alluse', TEMPORAL_ADDRESS: 'temporal:7233', ALLUSE_ADMIN_API_KEY: 'k'.repeat(24) };
    expect(loadConfig(production).codecTrustLoopback).toBe(false);
    expect(loadConfig({ ...production, TEMPORAL_CODEC_TRUST_LOOPBACK: 'true' }).codecTrustLoopback).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).codecTrustLoopback).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', TEMPORAL_CODEC_TRUST_LOOPBACK: 'false' }).codecTrustLoopback).toBe(false);
    expect(() => loadConfig({ ...production, TEMPORAL_CODEC_TRUST_LOOPBACK: 'yes' })).toThrow(/TEMPORAL_CODEC_TRUST_LOOPBACK: must be true or false/);
  });
});
