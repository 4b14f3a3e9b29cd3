import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultPayloadConverter } from '@temporalio/common';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Activities } from '../../src/activities';
import type { Schemas } from '../../src/client';
import { currentRequestId } from '../../src/infra/request-context';
import { REQUEST_ID_HEADER } from '../../src/shared/request-id';
import { startTestApi } from '../support/api';
import { okWith } from '../support/engine';
import { useProtocolStack } from '../support/stack';

type Family = parsePrometheusTextFormat.MetricFamily;

/** Every activity call (local ones included) with the request id it ran under. */
const calls: { activity: string; requestId?: string }[] = [];

/** The real activities, each noting the request id the activity interceptor put it under. */
const recording = (real: Activities): Activities =>
  Object.fromEntries(
    Object.entries(real).map(([name, fn]) => [
      name,
      (...args: unknown[]) => {
        calls.push({ activity: name, requestId: currentRequestId() });
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as Activities;

const stack = useProtocolStack({ wrapActivities: recording });
const { api, h, db } = stack;

async function scrape(url = api.url, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`, { headers });
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/**
 * The exposition parsed twice: as is (families and their types), and with
 * histograms read as untyped series, because parse-prometheus-text-format 1.1
 * folds a histogram with labels besides `le` into one label-less sample
 * (its flattenMetrics); untyped, every `<name>_count{labels}` line is a sample.
 */
function parse(text: string): { families: Family[]; series: Family[] } {
  return { families: parsePrometheusTextFormat(text), series: parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped')) };
}

async function scrapeParsed(): Promise<ReturnType<typeof parse>> {
  const res = await scrape();
  expect(res.status).toBe(200);
  return parse(res.text);
}

const family = (all: Family[], name: string) => all.find((f) => f.name === name);
const matches = (labels: Record<string, string> | undefined, want: Record<string, string>) =>
  Object.entries(want).every(([k, v]) => labels?.[k] === v);
/** A histogram's `_count` samples (labels and value) whose labels include `want`. */
const countSamples = (p: ReturnType<typeof parse>, name: string, want: Record<string, string> = {}) =>
  p.series.filter((f) => f.name === `${name}_count`).flatMap((f) => f.metrics).filter((m) => matches(m.labels, want));
const histogramCount = (p: ReturnType<typeof parse>, name: string, want: Record<string, string> = {}) =>
  countSamples(p, name, want).reduce((n, m) => n + Number(m.value), 0);

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('GET /metrics', () => {
  it('exposes the HTTP, saga step and ledger histograms a fork moves, and the open-task gauge, in the Prometheus text format', async () => {
    const before = await scrapeParsed();
    const stepsBefore = histogramCount(before, 'alluse_saga_step_seconds', { activity: 'forkBegin' });
    const postsBefore = histogramCount(before, 'alluse_ledger_post_seconds');

    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    expect((await h.fork(p.gen)).status).toBe('completed');

    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = parse(res.text);

    for (const name of ['alluse_http_request_duration_seconds', 'alluse_saga_step_seconds', 'alluse_ledger_post_seconds']) {
      expect(family(after.families, name)?.type).toBe('HISTOGRAM');
    }
    expect(histogramCount(after, 'alluse_http_request_duration_seconds', { method: 'POST', route: '/v1/accounts/:id/fork', status: '202' })).toBeGreaterThanOrEqual(1);
    // Routes are patterns, never raw paths with ids.
    expect(countSamples(after, 'alluse_http_request_duration_seconds').some((m) => m.labels?.route?.includes(p.gen))).toBe(false);

    expect(histogramCount(after, 'alluse_saga_step_seconds', { activity: 'forkBegin', outcome: 'ok' })).toBeGreaterThan(0);
    expect(histogramCount(after, 'alluse_saga_step_seconds', { activity: 'forkBegin' })).toBeGreaterThan(stepsBefore);
    // The opening entry, the activity and the fork's own entries.
    expect(histogramCount(after, 'alluse_ledger_post_seconds')).toBeGreaterThan(postsBefore);
    expect(histogramCount(after, 'alluse_ledger_post_seconds', { outcome: 'posted' })).toBeGreaterThan(0);

    const tasks = family(after.families, 'alluse_tasks_open');
    expect(tasks?.type).toBe('GAUGE');
    expect(tasks!.metrics.map((m) => m.labels?.kind).sort()).toEqual(['approval', 'broker']);
    // This test's database has no tasks: both kinds report zero.
    expect(tasks!.metrics.map((m) => Number(m.value))).toEqual([0, 0]);
    expect(family(after.families, 'alluse_tasks_oldest_open_seconds')?.metrics).toHaveLength(2);
  });

  it('needs no key by default and, with a metrics token, exactly that bearer token', async () => {
    expect((await scrape()).status).toBe(200);
    const token = 'metrics-token-0123456789';
    const guarded = await startTestApi(db.orm, stack.queue, { metrics: { token } });
    try {
      const none = await scrape(guarded.url);
      expect(none.status).toBe(401);
      expect(none.text).not.toContain('alluse_');
      expect((await scrape(guarded.url, { authorization: `Bearer ${guarded.keys.admin}` })).status).toBe(401);
      const ok = await scrape(guarded.url, { authorization: `Bearer ${token}` });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('alluse_http_request_duration_seconds');
    } finally {
      await guarded.close();
    }
  });

  it("appends the Temporal SDK's exposition when its exporter answers, and nothing when it does not", async () => {
    const sdk: Server = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('# HELP temporal_worker_task_slots_available x\n# TYPE temporal_worker_task_slots_available gauge\ntemporal_worker_task_slots_available{worker_type="ActivityWorker"} 100\n');
    });
    await new Promise<void>((resolve) => sdk.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(sdk.address() as AddressInfo).port}`;
    const withSdk = await startTestApi(db.orm, stack.queue, { metrics: { sdkAddress: address } });
    try {
      const all = parsePrometheusTextFormat((await scrape(withSdk.url)).text);
      expect(family(all, 'temporal_worker_task_slots_available')?.metrics[0]?.value).toBe('100');
      expect(family(all, 'alluse_http_request_duration_seconds')).toBeDefined();
      await new Promise<void>((resolve) => sdk.close(() => resolve()));
      const down = await scrape(withSdk.url);
      expect(down.status).toBe(200);
      expect(down.text).not.toContain('temporal_worker_task_slots_available');
      expect(family(parsePrometheusTextFormat(down.text), 'alluse_http_request_duration_seconds')).toBeDefined();
    } finally {
      sdk.close();
      await withSdk.close();
    }
  });
});

describe('request ids', () => {
  it('echoes a valid X-Request-Id and replaces a missing, malformed or overlong one with a uuid v7', async () => {
    const ok = await api.call('GET', '/healthz', { headers: { 'x-request-id': 'client-42.retry_1' } });
    expect(ok.headers.get('x-request-id')).toBe('client-42.retry_1');
    // On refused requests too.
    const refused = await api.call('GET', '/v1/portfolios', { key: null, headers: { 'x-request-id': 'no-key-1' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe('no-key-1');

    for (const bad of ['bad id!', 'a'.repeat(101), 'x/../y', '%C3%BCnicode', 'id;drop']) {
      const res = await api.call('GET', '/healthz', { headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id')).toMatch(UUID_V7);
    }
    const none = await api.call('GET', '/healthz');
    expect(none.headers.get('x-request-id')).toMatch(UUID_V7);
  });

  it('carries the request id into the workflow it starts and into every activity it runs, local ones included', async () => {
    const p = await h.portfolio();
    await h.activity(p.gen, 'premium', '50001.01');
    const requestId = `fork-req-${Date.now()}`;
    const from = calls.length;
    const answer = api.client.POST('/v1/accounts/{id}/fork', { params: { path: { id: p.gen } }, body: {}, headers: { 'x-request-id': requestId } });
    const { operationId } = await okWith(202, answer) as Schemas['OperationStarted'];
    expect((await answer).response.headers.get('x-request-id')).toBe(requestId);
    expect((await h.waitFor(operationId)).status).toBe('completed');

    const history = await api.temporal.workflow.getHandle(operationId).fetchHistory();
    const read = (fields?: Record<string, unknown> | null) => {
      const payload = fields?.[REQUEST_ID_HEADER];
      return payload ? defaultPayloadConverter.fromPayload(payload as never) : undefined;
    };
    const events = history.events ?? [];
    expect(read(events[0]?.workflowExecutionStartedEventAttributes?.header?.fields)).toBe(requestId);
    // Activities on the task queue carry the header in the history...
    const scheduled = events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : []));
    expect(scheduled.length).toBeGreaterThan(0);
    for (const a of scheduled) expect([a.activityType?.name, read(a.header?.fields)]).toEqual([a.activityType?.name, requestId]);
    // ...and every activity the fork ran (local ones leave no scheduled event) ran under the request id.
    const mine = calls.slice(from);
    expect(mine.map((c) => c.activity)).toEqual(expect.arrayContaining(['forkBegin', 'forkDebitParent', 'forkFundChildren']));
    expect(mine.filter((c) => c.requestId !== requestId)).toEqual([]);
  });
});
