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
