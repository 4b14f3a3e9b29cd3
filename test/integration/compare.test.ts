import type { Schemas } from '../../src/client';
import { useTestApi } from '../support/api';
import { okWith } from '../support/engine';

const { api } = useTestApi();

interface Variant {
  name: string;
  template?: Schemas['ProjectionRequest']['template'];
  settings?: Schemas['ProjectionRequest']['settings'];
}
type Common = Pick<Schemas['ProjectionRequest'], 'initialCapital' | 'years'> & Partial<Pick<Schemas['ProjectionRequest'], 'marketMix' | 'seed'>>;

/** A comparison as given (the validation tests send bad ones), as the viewer unless told. */
const compare = (body: Record<string, unknown>, key: string | null = api.keys.viewer) => api.call('POST', '/v1/projections/compare', { key, body });

/** The same variant through the single-projection route: what the comparison must agree with. */
async function single(common: Common, v: Variant) {
  const projection = await okWith(200, api.as('viewer').POST('/v1/projections', { body: { ...common, template: v.template, settings: v.settings } }));
  const last = projection.years[projection.years.length - 1]!;
  return { name: v.name, total: last.total, forkedUnits: last.activeForkedUnits, forks: projection.forks.length, merges: projection.merges.length };
}

const cents = (amount: string) => BigInt(amount.replace('.', ''));

describe('POST /v1/projections/compare', () => {
  it('ranks the variants by total, each equal to its own single projection', async () => {
    const common = { initialCapital: '300000.00', years: 4, marketMix: true, seed: 7 };
    const variants: Variant[] = [
      { name: 'default' },
      { name: 'low threshold', settings: { forkThreshold: '25000.00' } },
      { name: 'conservative', template: 'conservative' },
    ];
    const res = await compare({ ...common, variants });
    expect(res.status).toBe(200);
    const items = res.body.items as { name: string; total: string; forks: number; rank: number }[];

    const expected = await Promise.all(variants.map((v) => single(common, v)));
    expect([...items].sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      expected.map((e) => ({ ...e, rank: expect.any(Number) })).sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(items.map((i) => i.rank)).toEqual([1, 2, 3]);
    for (let i = 1; i < items.length; i++) expect(cents(items[i - 1]!.total) >= cents(items[i]!.total)).toBe(true);
    // A lower threshold forks more often from the same start.
    const byName = Object.fromEntries(items.map((i) => [i.name, i]));
    expect(byName['low threshold']!.forks).toBeGreaterThan(byName.default!.forks);
  });

  it('orders equal totals by name', async () => {
    const res = await compare({ initialCapital: '100000.00', years: 1, variants: [{ name: 'b' }, { name: 'a' }, { name: 'c', template: 'aggressive' }] });
    expect(res.status).toBe(200);
    const [a, b] = res.body.items.filter((i: { name: string }) => i.name !== 'c');
    expect(a).toMatchObject({ name: 'a', total: b.total });
    expect(b.rank).toBe(a.rank + 1);
  });

  it('accepts exactly the cap: 4 variants of 15 years', async () => {
    const variants = Array.from({ length: 4 }, (_, i) => ({ name: `v${i}`, settings: { forkThreshold: `${60000 + i * 10000}.00` } }));
    const res = await compare({ initialCapital: '300000.00', years: 15, variants });
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(4);
  });

  it('refuses invalid requests with 400: duplicate names, too many or no variants, too much work', async () => {
    const dup = await compare({ initialCapital: '100000.00', years: 1, variants: [{ name: 'x' }, { name: 'x', template: 'aggressive' }] });
    expect(dup.status).toBe(400);
    expect(dup.body.errors).toEqual([{ path: 'body.variants.1.name', message: expect.stringContaining('unique') }]);

    const nine = Array.from({ length: 9 }, (_, i) => ({ name: `v${i}` }));
    expect((await compare({ initialCapital: '100000.00', years: 1, variants: nine })).status).toBe(400);
    expect((await compare({ initialCapital: '100000.00', years: 1, variants: [] })).status).toBe(400);
    expect((await compare({ initialCapital: '100000.00', years: 1, variants: [{ name: 'x', nope: 1 }] })).status).toBe(400);
    expect((await compare({ initialCapital: '100000.00', years: 31, variants: [{ name: 'x' }] })).status).toBe(400);

    const long = await compare({ initialCapital: '100000.00', years: 16, variants: [{ name: 'x' }] });
    expect(long.status).toBe(400);
    expect(long.body.errors).toEqual([{ path: 'body.years', message: expect.stringContaining('at most 15 years') }]);
    const work = await compare({ initialCapital: '100000.00', years: 15, variants: nine.slice(0, 5) });
    expect(work.status).toBe(400);
    expect(work.body.errors).toEqual([{ path: 'body.variants', message: 'variants × years must be at most 60, here 5 × 15 = 75; compare fewer variants or fewer years' }]);
  });

  it('answers 422 naming the variant whose projection passes the exact range', async () => {
    const res = await compare({
      initialCapital: '100000.00', years: 5,
      variants: [{ name: 'calm' }, { name: 'wild', settings: { weeklyReturns: { gen: '0.5', rev: '0.5', com: '0.5' } } }],
    });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'OutOfRange', errors: [{ path: 'body.variants.1', message: res.body.detail }] });
    expect(res.body.detail).toMatch(/^variant "wild": the projection would exceed \$90,071,992,547,409\.91, .* in year 2 \(week \d+\); lower initialCapital or years, or change this variant's rules \(it stays exact for 1 year\)$/);

    const capital = await compare({ initialCapital: '999999999999999.00', years: 1, variants: [{ name: 'x' }] });
    expect(capital.status).toBe(422);
    expect(capital.body.errors[0].path).toBe('body.initialCapital');
  });

  it('needs an API key and documents the cap', async () => {
    expect((await compare({ initialCapital: '100000.00', years: 1, variants: [{ name: 'x' }] }, null)).status).toBe(401);
    const doc = (await api.call('GET', '/openapi.json', { key: null })).body;
    const post = doc.paths['/v1/projections/compare'].post;
    expect(post.responses['422']).toBeDefined();
    expect(JSON.stringify(doc.components.schemas.ProjectionCompareRequest)).toContain('variants × years at most 60');
  });
});
