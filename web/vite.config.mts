/**
 * The web app's build (Vite; JSX through Vite's own oxc transform, no plugin).
 * Output goes to web/dist, which the engine serves at GET / (src/api/web.ts).
 * Everything the page needs ends up as files under /assets/ (no inline
 * script or style, no data: URIs), so the page's Content-Security-Policy can
 * allow this origin only.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Never inline an asset as a data: URI: the CSP's img-src and font-src are 'self' only.
    assetsInlineLimit: 0,
    // Every browser this app supports has modulepreload; the polyfill would be dead weight.
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 700,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:3000', '/openapi.json': 'http://127.0.0.1:3000' } },
  logLevel: 'warn',
});
