import { checkWebhookUrl, isAllowListEntry, parseAllowList, refusalFor } from '../../src/notify/ssrf';

const none = parseAllowList([]);
const fixed = (answers: Record<string, string[]>) => async (host: string) => {
  const a = answers[host];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return a.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
};

describe('SSRF guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.8.9.10', 'loopback'], ['::1', 'loopback'], ['0.0.0.0', 'unspecified'], ['::', 'unspecified'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['192.168.1.1', 'private'], ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.169.254', 'link-local'], ['fe80::1', 'link-local'], ['fc00::1', 'unique local'], ['fd12:3456::1', 'unique local'],
    ['224.0.0.1', 'multicast'], ['ff02::1', 'multicast'], ['255.255.255.255', 'broadcast'], ['240.0.0.1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:10.0.0.1', 'private'],
  ])('refuses %s (%s)', (address, what) => {
    expect(refusalFor(address, none)).toContain(what);
  });

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('permits the public address %s', (address) => {
    expect(refusalFor(address, none)).toBeNull();
  });

  it('permits allow-listed addresses and networks only', () => {
    const allow = parseAllowList(['127.0.0.1', '::1', '10.0.0.0/8']);
    expect(refusalFor('127.0.0.1', allow)).toBeNull();
    expect(refusalFor('::1', allow)).toBeNull();
    expect(refusalFor('10.200.0.5', allow)).toBeNull();
    expect(refusalFor('127.0.0.2', allow)).toContain('loopback');
    expect(refusalFor('192.168.0.1', allow)).toContain('private');
  });

  it('checks every address a host resolves to', async () => {
    const lookup = fixed({ 'mixed.example': ['93.184.215.14', '10.0.0.1'], 'public.example': ['93.184.215.14', '2606:4700:4700::1111'] });
    const bad = await checkWebhookUrl('https://mixed.example/hook', none, lookup);
    expect(bad).toMatchObject({ ok: false, kind: 'refused' });
    expect(!bad.ok && bad.reason).toContain('mixed.example resolves to 10.0.0.1');
    const good = await checkWebhookUrl('https://public.example/hook', none, lookup);
    expect(good.ok && good.addresses).toHaveLength(2);
  });

  it('judges IP literals without DNS, whatever their spelling', async () => {
    const noDns = async () => {
      throw new Error('no DNS expected');
    };
    for (const url of ['http://127.0.0.1:8080/x', 'http://[::1]/x', 'http://0x7f.1/x', 'http://2130706433/x', 'http://[::ffff:7f00:1]/x']) {
      expect(await checkWebhookUrl(url, none, noDns)).toMatchObject({ ok: false, kind: 'refused' });
    }
    expect(await checkWebhookUrl('http://127.0.0.1:8080/x', parseAllowList(['127.0.0.1']), noDns)).toMatchObject({ ok: true });
  });

  it('permits an allow-listed host name whatever it resolves to', async () => {
    const lookup = fixed({ 'hooks.internal': ['10.1.1.1'] });
    expect(await checkWebhookUrl('http://hooks.internal/x', parseAllowList(['Hooks.Internal']), lookup)).toMatchObject({ ok: true });
    expect(await checkWebhookUrl('http://hooks.internal/x', none, lookup)).toMatchObject({ ok: false, kind: 'refused' });
  });

  it('refuses non-http schemes and unresolvable hosts', async () => {
    expect(await checkWebhookUrl('ftp://example.com/x', none, fixed({}))).toMatchObject({ ok: false, kind: 'invalid' });
    expect(await checkWebhookUrl('file:///etc/passwd', none, fixed({}))).toMatchObject({ ok: false, kind: 'invalid' });
    expect(await checkWebhookUrl('not a url', none, fixed({}))).toMatchObject({ ok: false, kind: 'invalid' });
    expect(await checkWebhookUrl('https://nowhere.example/x', none, fixed({}))).toMatchObject({ ok: false, kind: 'dns' });
  });

  it('validates allow-list entries', () => {
    for (const e of ['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8', 'hooks.internal', 'localhost']) expect(isAllowListEntry(e)).toBe(true);
    for (const e of ['10.0.0.0/33', 'http://x', 'a b', '10.0.0.0/x']) expect(isAllowListEntry(e)).toBe(false);
  });
});
