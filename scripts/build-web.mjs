// Builds the web app (web/, Vite) into web/dist, which the engine serves at
// GET / (src/api/web.ts), but only when needed: a SHA-256 over everything the
// build reads is kept in web/dist/.build-stamp, and a build whose stamp matches
// is skipped ("up to date").
//
//   node scripts/build-web.mjs           build if the inputs changed (npm install's postinstall, npm run build)
//   node scripts/build-web.mjs --force   build anyway (npm run web:build)
//
// `npm start` (src/main.ts) calls ensureWebBuild() before it starts the API.
// ALLUSE_SKIP_WEB_BUILD=1 skips the build npm install runs (the Dockerfile's
// `npm ci`, before the sources are copied); a build that fails during npm
// install is reported and does not fail the install (npm start tries again,
// npm run web:build shows the error).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root (this file is scripts/build-web.mjs). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Inside web/dist; a dotfile, so the engine never serves it. */
export const STAMP_FILE = '.build-stamp';
/** What the build reads: these files, every file under these folders (src/client: the typed API client the app imports), these packages' versions. */
export const INPUT_FILES = ['web/index.html', 'web/vite.config.mts', 'web/tsconfig.json'];
export const INPUT_DIRS = ['web/src', 'web/public', 'src/client'];
export const INPUT_PACKAGES = ['vite', 'react', 'react-dom', 'chart.js', 'decimal.js', 'openapi-fetch'];

const say = (line) => console.log(line);

/** Files under `dir` (relative to root, '/'-separated, sorted); dotfiles (editor and OS droppings) left out; none when it is missing. */
function filesUnder(root, dir) {
  const out = [];
  const walk = (rel) => {
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const child = `${rel}/${entry.name}`;
      const stat = entry.isSymbolicLink() ? statSync(join(root, child), { throwIfNoEntry: false }) : entry;
      if (stat?.isDirectory()) walk(child);
      else if (stat?.isFile()) out.push(child);
    }
  };
  walk(dir);
  return out;
}

/** The version of an installed package in root/node_modules, or null. */
export function installedVersion(root, name) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version ?? null;
  } catch {
    return null;
  }
}

/** SHA-256 (hex) over the build's inputs: each file's path, length and bytes (a missing one as missing), then the packages' versions. */
export function webInputsHash(root = ROOT) {
  const hash = createHash('sha256').update('alluse web build 1\n');
  const files = [...INPUT_FILES, ...INPUT_DIRS.flatMap((dir) => filesUnder(root, dir))].sort();
  for (const rel of files) {
    let body;
    try {
      body = readFileSync(join(root, rel));
    } catch {
      hash.update(`file ${rel} missing\n`);
      continue;
    }
    hash.update(`file ${rel} ${body.length}\n`).update(body).update('\n');
  }
  for (const name of INPUT_PACKAGES) hash.update(`package ${name} ${installedVersion(root, name) ?? 'absent'}\n`);
  return hash.digest('hex');
}

/** The stamp of the build in root/web/dist, or null (never built, or built before stamps, or a build that failed part-way). */
export function readStamp(root = ROOT) {
  try {
    return readFileSync(join(root, 'web', 'dist', STAMP_FILE), 'utf8').trim();
  } catch {
    return null;
  }
}

/** Vite's JS API with web/vite.config.mts, in production mode whatever NODE_ENV the caller runs under (a test, a dev start). */
async function viteBuild(root) {
  let vite;
  try {
    vite = await import('vite');
  } catch (err) {
    throw new Error('vite is not installed (it is a development dependency): run `npm install`', { cause: err });
  }
  const saved = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await vite.build({ configFile: join(root, 'web', 'vite.config.mts'), mode: 'production' });
  } finally {
    if (saved === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = saved;
  }
}

/**
 * Builds web/dist unless its stamp matches the inputs (or `force`). Logs one
 * line: "up to date", or that it builds and why. Resolves with whether it
 * built, the stamp and the time taken; rejects when the build fails (then
 * web/dist has no stamp, so the next call builds again).
 * `root` and `build` (root => Promise) are for tests.
 */
export async function ensureWebBuild({ force = false, log = say, root = ROOT, build = viteBuild } = {}) {
  const started = Date.now();
  const stamp = webInputsHash(root);
  const previous = readStamp(root);
  const dist = join(root, 'web', 'dist');
  if (!force && previous === stamp && existsSync(join(dist, 'index.html'))) {
    log('web app: up to date (web/dist)');
    return { built: false, stamp, ms: Date.now() - started };
  }
  if (!existsSync(join(root, 'web', 'index.html'))) throw new Error('web/index.html is missing: there is no web app to build');
  const why = force ? 'forced' : existsSync(join(dist, 'index.html')) ? 'its sources changed' : 'first build';
  log(`web app: building web/dist with Vite (${why})...`);
  // Gone until this build succeeds: a failure part-way never leaves a stamp that claims the build is current.
  rmSync(join(dist, STAMP_FILE), { force: true });
  await build(root);
  if (!existsSync(join(dist, 'index.html'))) throw new Error('the build wrote no web/dist/index.html');
  writeFileSync(join(dist, STAMP_FILE), `${stamp}\n`);
  return { built: true, stamp, ms: Date.now() - started };
}

const invokedDirectly = (() => {
  try {
    return !!process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  const force = process.argv.includes('--force');
  const duringInstall = process.env.npm_lifecycle_event === 'postinstall';
  const tag = (line) => say(`[build-web] ${line}`);
  if (duringInstall && process.env.ALLUSE_SKIP_WEB_BUILD === '1') {
    tag('skipped (ALLUSE_SKIP_WEB_BUILD=1)');
    process.exit(0);
  }
  if (duringInstall && !existsSync(join(ROOT, 'web', 'index.html'))) {
    tag('skipped: no web/ sources here');
    process.exit(0);
  }
  try {
    const result = await ensureWebBuild({ force, log: tag });
    if (result.built) tag(`built web/dist in ${(result.ms / 1000).toFixed(1)} s`);
    process.exit(0);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (duringInstall) {
      console.warn(`[build-web] the web app did not build: ${message}`);
      console.warn('[build-web] the install goes on; `npm run web:build` shows the whole error, and `npm start` tries again');
      process.exit(0);
    }
    console.error(`[build-web] the web app did not build: ${err instanceof Error && err.stack ? err.stack : message}`);
    process.exit(1);
  }
}
