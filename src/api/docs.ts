/**
 * GET /docs: the API reference as Swagger UI (swagger-ui-dist from npm, served
 * from this origin: it works offline and loads nothing from a CDN), where a
 * reader can paste an API key and try requests against this engine.
 *
 * No inline script or style: the page loads Swagger UI's bundle and our own
 * init script and stylesheet as files, so the Content-Security-Policy below
 * can be strict. The init script and stylesheet are kept here as strings
 * rather than as files next to this module because the Docker image ships
 * only the compiled `dist/` (and node_modules), not the sources.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import express, { type Router } from 'express';

/**
 * The policy of /docs and its assets (replacing helmet's default for those
 * responses only). Everything Swagger UI needs comes from this origin:
 * - script-src 'self': the bundle and the init script (no inline script, no eval);
 * - style-src 'self': the two stylesheets. Swagger UI's inline styles are set
 *   through the DOM (React `style` props), which style-src does not govern, so
 *   no 'unsafe-inline' (the browser test asserts no violation is reported);
 * - img-src 'self' data:: swagger-ui.css draws its icons as data: SVGs; the favicon;
 * - connect-src 'self': /openapi.json and the requests a reader tries;
 * - no font-src: Swagger UI uses system fonts, and default-src 'none' refuses the rest.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SWAGGER_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const SWAGGER_VERSION = (JSON.parse(readFileSync(join(SWAGGER_DIR, 'package.json'), 'utf8')) as { version: string }).version;
/** Only what the page loads (no standalone preset, no source maps, no oauth2 redirect: bearer keys only). */
const SWAGGER_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'favicon-16x16.png'];
/** Versioned paths, so the files can be cached for a year and an upgrade still reaches every browser. */
const VENDOR = `/assets/swagger-ui-${SWAGGER_VERSION}`;

/** Swagger UI's configuration: never stores the key, never calls the public validator, reads no config from the query string. */
const INIT_JS = `'use strict';
window.addEventListener('DOMContentLoaded', function () {
  window.ui = window.SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    filter: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    withCredentials: false
  });
});
`;

const STYLE_CSS = `html{box-sizing:border-box;overflow-y:scroll}*,*:before,*:after{box-sizing:inherit}
body{margin:0;background:#fafafa}
.alluse-note{max-width:1460px;margin:0 auto;padding:14px 20px 0;font:14px/1.5 sans-serif;color:#3b4151}
.alluse-note p{margin:.35em 0}.alluse-note code{background:#eceff1;padding:0 .3em;border-radius:3px;font-size:13px}
`;

const hashed = (name: string, body: string) => {
  const [base, ext] = name.split('.');
  return `/assets/${base}-${createHash('sha256').update(body).digest('hex').slice(0, 12)}.${ext}`;
};
const INIT_PATH = hashed('docs.js', INIT_JS);
const STYLE_PATH = hashed('docs.css', STYLE_CSS);

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ALL-USE Engine API reference</title>
<link rel="stylesheet" href="/docs${VENDOR}/swagger-ui.css">
<link rel="stylesheet" href="/docs${STYLE_PATH}">
<link rel="icon" type="image/png" href="/docs${VENDOR}/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="/docs${VENDOR}/favicon-16x16.png" sizes="16x16">
</head>
<body>
<header class="alluse-note">
<p><strong>Try it:</strong> click <em>Authorize</em>, paste an API key (<code>alu_…</code>), then open an operation and
<em>Execute</em>. Requests run against this engine with the key's role (viewer, operator or admin): an operator or admin key changes real data.</p>
<p><strong>Getting a key:</strong> on first start the engine writes an admin key to <code>.data/admin-api-key</code>
(or uses <code>ALLUSE_ADMIN_API_KEY</code>); an admin creates more, per role, with <code>POST /v1/api-keys</code>.
The key stays in this tab's memory only: it is never stored (no cookie, no local storage), and reloading the page forgets it.
The machine-readable document is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
</header>
<div id="swagger-ui"></div>
<noscript><p class="alluse-note">This reference needs JavaScript; the API document itself is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
<script src="/docs${VENDOR}/swagger-ui-bundle.js"></script>
<script src="/docs${INIT_PATH}"></script>
</body>
</html>
`;

const YEAR = 365 * 24 * 3600;
const IMMUTABLE = `public, max-age=${YEAR}, immutable`;

/**
 * The /docs page and its assets (paths relative to the mount point): mount it
 * with `app.use('/docs', docsRouter())`, before authentication (it is public).
 */
export function docsRouter(): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    next();
  });
  // `/docs` and `/docs/` (the mount point strips the prefix); the page links its assets by absolute path.
  router.get('/', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(PAGE);
  });
  router.get(INIT_PATH, (_req, res) => {
    res.setHeader('Cache-Control', IMMUTABLE);
    res.type('text/javascript').send(INIT_JS);
  });
  router.get(STYLE_PATH, (_req, res) => {
    res.setHeader('Cache-Control', IMMUTABLE);
    res.type('css').send(STYLE_CSS);
  });
  for (const file of SWAGGER_FILES) {
    router.get(`${VENDOR}/${file}`, (_req, res, next) => {
      res.sendFile(join(SWAGGER_DIR, file), { maxAge: YEAR * 1000, immutable: true }, (err) => {
        if (err) next(err);
      });
    });
  }
  return router;
}
