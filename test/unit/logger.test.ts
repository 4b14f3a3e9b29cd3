import { Writable } from 'node:stream';
import { createLogger, type Level } from '../../src/infra/logger';
import { requestContext, requestIdFrom } from '../../src/infra/request-context';
import { TemporalLogger } from '../../src/infra/temporal-logger';
import { isValidRequestId } from '../../src/shared/request-id';

/** A logger writing into an array of parsed JSON lines. */
function capture(level: Level = 'debug', component = 'test') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger(component, level, sink), lines };
}

describe('logger', () => {
  it('writes one JSON line per event with level, ISO time, component and message', () => {
    const { log, lines } = capture('info', 'api');
    log.info('started', { port: 3000 });
    log.debug('hidden');
    log.error('failed', { step: 'x' });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', component: 'api', msg: 'started', port: 3000 });
    expect(new Date(lines[0]!.time as string).toISOString()).toBe(lines[0]!.time);
    expect(lines[1]).toMatchObject({ level: 'error', msg: 'failed', step: 'x' });
  });

  it('redacts authorization headers, keys, secrets and API keys at any depth it is given', () => {
    const { log, lines } = capture();
    log.warn('request', {
      authorization: 'Bearer top-secret-1',
      headers: { authorization: 'Bearer top-secret-2', Authorization: 'Bearer top-secret-3', accept: 'application/json' },
      apiKey: 'top-secret-4',
      key: 'top-secret-5',
      webhook: { secret: 'top-secret-6', url: 'https://example.test/hook' },
      req: { headers: { authorization: 'Bearer top-secret-7' } },
      keyId: 'visible-id',
    });
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/top-secret/);
    expect(lines[0]).toMatchObject({
      authorization: '[redacted]', apiKey: '[redacted]', key: '[redacted]',
      headers: { authorization: '[redacted]', Authorization: '[redacted]', accept: 'application/json' },
      webhook: { secret: '[redacted]', url: 'https://example.test/hook' },
      req: { headers: { authorization: '[redacted]' } },
      keyId: 'visible-id',
    });
  });

  it('adds child fields, and the request id of the request context it runs in', () => {
    const { log, lines } = capture();
    const child = log.child({ operationId: 'fork-1' });
    child.info('outside');
    requestContext.run({ requestId: 'req-1' }, () => child.info('inside'));
    expect(lines[0]).toMatchObject({ operationId: 'fork-1', msg: 'outside' });
    expect(lines[0]).not.toHaveProperty('requestId');
    expect(lines[1]).toMatchObject({ operationId: 'fork-1', requestId: 'req-1', msg: 'inside' });
  });

  it('serialises errors with their message and stack', () => {
    const { log, lines } = capture();
    log.error('boom', { error: new Error('it broke') });
    expect(lines[0]!.error).toMatchObject({ type: 'Error', message: 'it broke' });
    expect(String((lines[0]!.error as { stack: string }).stack)).toContain('it broke');
  });
});

describe('TemporalLogger (the SDK runtime logger)', () => {
  it("passes workflow and activity lines at the engine's level and the SDK's own at its level, as JSON with their metadata", () => {
    const { log, lines } = capture('info', 'temporal');
    const sdk = new TemporalLogger(log, { level: 'info', sdkLevel: 'WARN' });
    const stamp = Symbol('timestamp');
    sdk.info('step done', { sdkComponent: 'workflow', workflowId: 'fork-a-1', requestId: 'req-9', [stamp]: 1n });
    sdk.debug('activity detail', { sdkComponent: 'activity' });
    sdk.info('worker state changed', { sdkComponent: 'worker' });
    sdk.warn('core warning', { sdkComponent: 'core' });
    sdk.trace('noise');
    expect(lines.map((l) => l.msg)).toEqual(['step done', 'core warning']);
    expect(lines[0]).toMatchObject({ level: 'info', component: 'temporal', sdkComponent: 'workflow', workflowId: 'fork-a-1', requestId: 'req-9' });
    expect(lines[1]).toMatchObject({ level: 'warn', sdkComponent: 'core' });
  });

  it('lets everything through at debug', () => {
    const { log, lines } = capture('debug');
    const sdk = new TemporalLogger(log, { level: 'debug', sdkLevel: 'DEBUG' });
    sdk.debug('a', { sdkComponent: 'worker' });
    sdk.log('TRACE', 'b', { sdkComponent: 'core' });
    sdk.debug('c', { sdkComponent: 'activity' });
    expect(lines.map((l) => [l.msg, l.level])).toEqual([['a', 'debug'], ['c', 'debug']]);
  });
});

describe('request ids', () => {
  it('accepts 1–100 characters of [A-Za-z0-9._-] and nothing else', () => {
    for (const ok of ['a', 'req-1', 'A.b_c-9', 'x'.repeat(100)]) expect(isValidRequestId(ok)).toBe(true);
    for (const bad of ['', 'x'.repeat(101), 'a b', 'a/b', 'ü', 'a\nb', 42, undefined]) expect(isValidRequestId(bad)).toBe(false);
  });

  it("keeps a valid caller's id and makes a uuid v7 otherwise", () => {
    expect(requestIdFrom('abc-1')).toBe('abc-1');
    expect(requestIdFrom('bad id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(requestIdFrom(undefined)).not.toBe(requestIdFrom(undefined));
  });
});
