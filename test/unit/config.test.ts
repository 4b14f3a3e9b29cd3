import { availableParallelism } from 'node:os';
import { loadConfig } from '../../src/config';

/** TEMPORAL_UI_URL reaches every API key (GET /v1/me, each operation's temporalUiUrl), so it is checked strictly. */
describe('TEMPORAL_UI_URL', () => {
  const load = (url: string) => loadConfig({ TEMPORAL_UI_URL: url });

  it('accepts an http(s) address and drops a trailing slash', () => {
    expect(load('https://temporal.example/ui/').temporalUiUrl).toBe('https://temporal.example/ui');
    expect(load('http://127.0.0.1:8233').temporalUiUrl).toBe('http://127.0.0.1:8233');
  });

  it.each([
    ['a user name and password', 'https://ops:secret@temporal.example', /user name or password/],
    ['a query string', 'https://temporal.example/?x=1', /query string or fragment/],
    ['another scheme', 'javascript:alert(1)', /http\(s\) URL/],
  ])('refuses %s', (_what, url, message) => {
    expect(() => load(url)).toThrow(message);
  });

  it('is unset unless given', () => {
    expect(loadConfig({}).temporalUiUrl).toBeUndefined();
  });
});

/** The API's projection worker pool (src/projection/pool.ts): its size, its queue and each projection's time budget. */
describe('PROJECTION_POOL_SIZE, PROJECTION_QUEUE_MAX, PROJECTION_TIME_BUDGET_MS', () => {
  it('defaults to one thread fewer than the cores (at least one), 16 waiting, 10 s', () => {
    const pool = loadConfig({}).projectionPool;
    expect(pool).toEqual({ size: Math.max(1, availableParallelism() - 1), queueMax: 16, timeBudgetMs: 10_000 });
    expect(pool.size).toBeGreaterThanOrEqual(1);
    expect(Object.isFrozen(pool)).toBe(true);
  });

  it('takes integers within their ranges, the bounds included', () => {
    const low = loadConfig({ PROJECTION_POOL_SIZE: '1', PROJECTION_QUEUE_MAX: '0', PROJECTION_TIME_BUDGET_MS: '100' });
    expect(low.projectionPool).toEqual({ size: 1, queueMax: 0, timeBudgetMs: 100 });
    const high = loadConfig({ PROJECTION_POOL_SIZE: '256', PROJECTION_QUEUE_MAX: '10000', PROJECTION_TIME_BUDGET_MS: '600000' });
    expect(high.projectionPool).toEqual({ size: 256, queueMax: 10_000, timeBudgetMs: 600_000 });
  });

  it.each([
    ['PROJECTION_POOL_SIZE', '0'],
    ['PROJECTION_POOL_SIZE', '257'],
    ['PROJECTION_POOL_SIZE', '2.5'],
    ['PROJECTION_POOL_SIZE', 'four'],
    ['PROJECTION_QUEUE_MAX', '-1'],
    ['PROJECTION_QUEUE_MAX', '10001'],
    ['PROJECTION_QUEUE_MAX', '1.5'],
    ['PROJECTION_TIME_BUDGET_MS', '99'],
    ['PROJECTION_TIME_BUDGET_MS', '600001'],
    ['PROJECTION_TIME_BUDGET_MS', '10s'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name}: `));
  });
});
