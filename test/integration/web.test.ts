import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { ApiError, ok } from '../../src/client';
import { WEB_CSP, webRouter } from '../../src/api/web';
import { temporalUiLink } from '../../src/api/routes/operations';
import { type TestApi, startTestApi } from '../support/api';
import { eventually } from '../support/engine';
import { useProtocolStack } from '../support/stack';

const ROOT = join(__dirname, '../..');
const DIST = join(ROOT, 'web', 'dist');
const UI = { url: 'http://temporal-ui.test:8233', namespace: 'default' };

// web/dist as `npm start` leaves it: built when its inputs changed (fast when up to date).
beforeAll(async () => {
  await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build-web.mjs')], { cwd: ROOT, timeout: 170_000 });
}, 180_000);

const stack = useProtocolStack();
const { api, db, h } = stack;
/** A second API on the same database and worker, configured with the Temporal UI's address. */
let linked: TestApi;
beforeAll(async () => {
  linked = await startTestApi(db.orm, stack.queue, { temporalUi: UI });
});
afterAll(() => linked?.close());

/** A request sent with its path exactly as written (fetch would resolve `..` before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web app at /', () => {
  it('serves index.html at / and /index.html, no-cache, under exactly WEB_CSP', async () => {
    expect(WEB_CSP).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; " +
        "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    for (const path of ['/', '/index.html']) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toBe(WEB_CSP);
      expect(await res.text()).toBe(readFileSync(join(DIST, 'index.html'), 'utf8'));
    }
  });

  it('serves the hashed assets index.html names as immutable, with their content types, and the favicon briefly cached', async () => {
    const html = await (await fetch(`${api.url}/`)).text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//); // nothing from another origin
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    const types: Record<string, RegExp> = { js: /^text\/javascript/, css: /^text\/css/ };
    for (const asset of assets) {
      const res = await fetch(`${api.url}${asset}`);
      expect(res.status).toBe(200);
      const ext = asset.split('.').pop()!;
      if (types[ext]) expect(res.headers.get('content-type')).toMatch(types[ext]);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-security-policy')).toBe(WEB_CSP);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const favicon = await fetch(`${api.url}/favicon.svg`);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(favicon.headers.get('cache-control')).toBe('public, max-age=300');
    expect(favicon.headers.get('content-security-policy')).toBe(WEB_CSP);
  });

  it('serves nothing else: no dotfile, no listing, nothing outside web/dist', async () => {
    const pkg = readFileSync(join(ROOT, 'package.json'), 'utf8');
    const stamp = readFileSync(join(DIST, '.build-stamp'), 'utf8').trim();
    for (const path of [
      '/.build-stamp', '/assets/.build-stamp', '/assets/../.build-stamp', '/assets/../package.json', '/assets/../../package.json',
      '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/..%2fpackage.json', '/%2e%2e/package.json',
      '/assets/', '/assets', '/web/dist/index.html', '/dist/index.html', '/tsconfig.json', '/nope.js',
    ]) {
      const res = await rawGet(api.url, path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).not.toContain(stamp);
      expect(res.body).not.toContain(pkg.slice(0, 40));
    }
    // The rest of the engine answers as before.
    expect((await fetch(`${api.url}/v1/portfolios`)).status).toBe(401);
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    const docs = await fetch(`${api.url}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-security-policy')).not.toBe(WEB_CSP);
    expect((await fetch(`${api.url}/index.html`, { method: 'POST' })).status).toBe(404);
  });

  it('answers 503 with a short page when the app is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'alluse-web-'));
    const server = express().use(webRouter(join(empty, 'dist'))).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await fetch(`${url}/`);
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toBe(WEB_CSP);
      const body = await res.text();
      expect(body).toContain('npm run web:build');
      expect(body).not.toContain(empty);
      expect(body).not.toMatch(/<script|<style|\sstyle=/);
    } finally {
      server.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('GET /v1/me', () => {
  it("answers each role's key, and the Temporal UI when the engine knows it", async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const me = await ok(api.as(role).GET('/v1/me'));
      expect(me).toEqual({ keyId: expect.stringMatching(/^[0-9a-f-]{36}$/), name: `test ${role}`, role, temporalUi: null });
    }
    expect(await ok(linked.as('viewer').GET('/v1/me'))).toMatchObject({ role: 'viewer', temporalUi: UI });
  });

  it('is a 401 without a key, with a wrong key and with a revoked one', async () => {
    const created = await ok(api.client.POST('/v1/api-keys', { body: { name: 'short-lived', role: 'viewer' } }));
    expect(await ok(api.clientFor(created.key).GET('/v1/me'))).toMatchObject({ keyId: created.id, name: 'short-lived', role: 'viewer' });
    await ok(api.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: created.id } } }));
    for (const key of [null, 'alu_not-a-key-of-this-engine-0000000000000', created.key]) {
      const err = await ok(api.clientFor(key).GET('/v1/me')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(401);
    }
  });
});

describe('temporalUiUrl', () => {
  it('links an operation to its workflow in the Temporal UI when TEMPORAL_UI_URL is configured, and not otherwise', async () => {
    const p = await h.portfolio();
    const scan = await h.scan({ portfolioId: p.id });
    expect(scan.status).toBe('completed');
    const link = `${UI.url}/namespaces/default/workflows/${scan.operationId}`;

    expect(await ok(api.client.GET('/v1/operations/{operationId}', { params: { path: { operationId: scan.operationId } } }))).not.toHaveProperty('temporalUiUrl');
    const one = await ok(linked.client.GET('/v1/operations/{operationId}', { params: { path: { operationId: scan.operationId } } }));
    expect(one.temporalUiUrl).toBe(link);

    const listed = await eventually('the scan in the listing', async () =>
      (await ok(linked.client.GET('/v1/operations', { params: { query: { type: 'scan', portfolioId: p.id } } }))).items, {
      until: (items) => items.some((o) => o.operationId === scan.operationId),
    });
    for (const op of listed) expect(op.temporalUiUrl).toBe(temporalUiLink(UI, op.operationId));
    const plain = await ok(api.client.GET('/v1/operations', { params: { query: { type: 'scan', portfolioId: p.id } } }));
    expect(plain.items.map((o) => o.operationId)).toContain(scan.operationId);
    for (const op of plain.items) expect(op).not.toHaveProperty('temporalUiUrl');
  });

  it('encodes the namespace and the workflow id', () => {
    expect(temporalUiLink({ url: 'https://ui.example/t', namespace: 'team a/prod' }, 'reinvest-x-2026Q3?#'))
      .toBe('https://ui.example/t/namespaces/team%20a%2Fprod/workflows/reinvest-x-2026Q3%3F%23');
  });
});
