import { codecFromSpec, newCodecKeySpec } from '../../src/infra/codec';
import { connectClient } from '../../src/infra/temporal';
import { useProtocolStack } from '../support/stack';

const UI = 'http://127.0.0.1:8233';
const { api, h } = useProtocolStack({ codec: codecFromSpec(newCodecKeySpec('test-key'))!, uiOrigins: [UI] });

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
