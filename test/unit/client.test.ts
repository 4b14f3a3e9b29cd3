import { ApiError, createAlluseClient, ok } from '../../src/client';

/** A server in a function: what the client sent, and the answer to give. */
function serve(status: number, body: string, contentType = 'application/problem+json') {
  const seen: Request[] = [];
  const fetch = async (req: Request) => {
    seen.push(req);
    return new Response(body, { status, headers: { 'content-type': contentType } });
  };
  return { seen, api: createAlluseClient({ baseUrl: 'http://engine.test:3000/', apiKey: 'alluse_k', userAgent: 'alluse-cli/test', fetch }) };
}

describe('the typed client', () => {
  it('sends the key and user agent to the typed path, and returns the data', async () => {
    const { seen, api } = serve(200, JSON.stringify({ items: [{ id: 'p1' }] }), 'application/json');
    const data = await ok(api.GET('/v1/portfolios'));
    expect(data).toEqual({ items: [{ id: 'p1' }] });
    expect(seen[0]!.url).toBe('http://engine.test:3000/v1/portfolios');
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer alluse_k');
    expect(seen[0]!.headers.get('user-agent')).toBe('alluse-cli/test');
  });

  it('turns a problem document into an ApiError with its code and reasons', async () => {
    const problem = { type: 'urn:alluse:problem:NotEligible', title: 'Unprocessable Content', status: 422, detail: 'not eligible', code: 'NotEligible', reasons: ['surplus 10.00 is below 50000.00'] };
    const { api } = serve(422, JSON.stringify(problem));
    const err = await ok(api.POST('/v1/accounts/{id}/fork', { params: { path: { id: 'a' } }, body: { dryRun: true } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'NotEligible', message: 'not eligible', problem });
  });

  it('makes a problem up when the answer is not one (a proxy page)', async () => {
    const { api } = serve(502, '<html>bad gateway</html>', 'text/html');
    const err = (await ok(api.GET('/v1/portfolios')).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(502);
    expect(err.code).toBeUndefined();
    expect(err.message).toMatch(/answered 502 .*without a problem document/);
  });
});
