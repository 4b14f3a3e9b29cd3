/**
 * GET /: the operator's web app (web/, built by Vite into web/dist by
 * `npm run web:build`, `npm run build`, `npm install` and a first `npm start`:
 * scripts/build-web.mjs). This router only serves files: the app reads and
 * writes through the /v1 API with the user's key like any other client.
 *
 * Only these files of web/dist are served: index.html (at `/` and
 * `/index.html`), Vite's content-hashed files under `/assets/`, and other
 * regular files at the top level (favicon.svg). Never a directory listing, a
 * dotfile (`.build-stamp`) or anything outside web/dist.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import express, { type Response, type Router } from 'express';

/**
 * The policy of the web app's page and files (replacing helmet's default for
 * those responses only): everything comes from this origin, nothing inline.
 * Vite's build writes every script and stylesheet as a file under /assets/
 * (no inline script or style, no data: URIs: web/vite.config.mts), so:
 * - script-src 'self', style-src 'self': the bundles (no eval, no inline);
 * - img-src, font-src, manifest-src 'self': the favicon and any bundled image or font;
 * - connect-src 'self': the /v1 API, with the key the user signed in with;
 * - base-uri, form-action, frame-ancestors 'none': no <base> rewrite, no form
 *   posts anywhere, and the page cannot be framed (clickjacking).
 */
export const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** web/dist of this checkout: from src/api under tsx and from dist/api after `npm run build` alike. */
export const WEB_DIST = join(__dirname, '../../web/dist');

const YEAR = 365 * 24 * 3600;
/** Top-level files (favicon.svg) keep their name across builds: cached briefly. */
const SHORT = 'public, max-age=300';
/** A top-level file name: no dotfile, no directory part. */
const TOP_LEVEL_FILE = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/;

const NOT_BUILT = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ALL-USE Engine: web app not built</title>
</head>
<body>
<h1>The web app is not built</h1>
<p>The API is running, but the web app has not been built on this machine. Run <code>npm run web:build</code>, then reload this page.</p>
<p>The API reference is at <a href="/docs">/docs</a>.</p>
</body>
</html>
`;

const isFile = (path: string): boolean => {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
};

/**
 * The built web app in `dir` (web/dist), mounted at the root before
 * authentication: `app.use(webRouter())`. It answers only the paths above and
 * passes everything else on untouched (the API, /docs, the 404 problem).
 * Files are looked up per request, so a rebuild while the engine runs is
 * served at once.
 */
export function webRouter(dir: string = WEB_DIST): Router {
  const router = express.Router();
  const index = join(dir, 'index.html');

  const page = (res: Response, next: (err?: unknown) => void) => {
    res.setHeader('Content-Security-Policy', WEB_CSP);
    if (!isFile(index)) {
      res.setHeader('Cache-Control', 'no-store');
      res.status(503).type('html').send(NOT_BUILT);
      return;
    }
    // no-cache: revalidated (ETag) on every load, so a new build's asset names reach the browser at once.
    res.sendFile(index, { cacheControl: false, headers: { 'Cache-Control': 'no-cache' } }, (err) => {
      if (err) next(err);
    });
  };
  router.get(['/', '/index.html'], (_req, res, next) => page(res, next));

  // Vite's content-hashed files: the name changes with the content, so they are cached for a year.
  const assets = express.static(join(dir, 'assets'), {
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    fallthrough: true,
    maxAge: YEAR * 1000,
    immutable: true,
    // Only on a file it serves (a 304 included): a miss falls through to the API's 404 problem unchanged.
    setHeaders: (res) => res.setHeader('Content-Security-Policy', WEB_CSP),
  });
  router.use('/assets', assets);

  // Other top-level files of web/dist (from web/public: favicon.svg), when they exist.
  router.get('/:file', (req, res, next) => {
    const name = req.params.file;
    if (name === 'index.html' || !TOP_LEVEL_FILE.test(name) || !isFile(join(dir, name))) return next();
    res.setHeader('Content-Security-Policy', WEB_CSP);
    res.sendFile(join(dir, name), { cacheControl: false, dotfiles: 'deny', headers: { 'Cache-Control': SHORT } }, (err) => {
      if (err) next(err);
    });
  });
  return router;
}
