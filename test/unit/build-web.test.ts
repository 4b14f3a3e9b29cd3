/**
 * scripts/build-web.mjs decides when the web app needs building. It is an ES
 * module run by plain node (npm install's postinstall), which Jest cannot
 * load, so each case runs in a child node over a made-up checkout with a
 * fake build in place of Vite.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const SCRIPT = join(__dirname, '../../scripts/build-web.mjs');

let root: string;
const write = (rel: string, body: string) => {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), body);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'alluse-build-web-'));
  write('web/index.html', '<!doctype html><script type="module" src="/src/main.tsx"></script>');
  write('web/vite.config.mts', 'export default {};');
  write('web/tsconfig.json', '{}');
  write('web/src/main.tsx', 'console.log(1);');
  write('web/public/favicon.svg', '<svg/>');
  write('src/client/index.ts', 'export {};');
  write('node_modules/vite/package.json', '{"version":"8.0.0"}');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/**
 * ensureWebBuild over `root` with a fake build that, like Vite's emptyOutDir,
 * replaces web/dist (or fails when `fail`): what it returned and logged, and
 * whether the build ran.
 */
function ensure(opts: { force?: boolean; fail?: boolean } = {}): { built: boolean; ran: boolean; stamp: string; lines: string[]; error?: string } {
  const program = `
    import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { ensureWebBuild } from ${JSON.stringify(pathToFileURL(SCRIPT).href)};
    const root = ${JSON.stringify(root)};
    const lines = [];
    let ran = false;
    const build = async () => {
      ran = true;
      rmSync(join(root, 'web/dist'), { recursive: true, force: true });
      if (${Boolean(opts.fail)}) throw new Error('syntax error in web/src');
      mkdirSync(join(root, 'web/dist'), { recursive: true });
      writeFileSync(join(root, 'web/dist/index.html'), 'built');
    };
    try {
      const r = await ensureWebBuild({ root, build, force: ${Boolean(opts.force)}, log: (l) => lines.push(l) });
      console.log(JSON.stringify({ ...r, ran, lines }));
    } catch (err) {
      console.log(JSON.stringify({ built: false, ran, lines, error: err.message }));
    }
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' }));
}

describe('the web build stamp', () => {
  it('builds the first time, then skips while nothing it reads changes', () => {
    const first = ensure();
    expect(first).toMatchObject({ built: true, ran: true, lines: [expect.stringContaining('first build')] });
    expect(first.stamp).toMatch(/^[0-9a-f]{64}$/);
    const again = ensure();
    expect(again).toMatchObject({ built: false, ran: false, stamp: first.stamp, lines: [expect.stringContaining('up to date')] });
    expect(ensure({ force: true })).toMatchObject({ built: true, ran: true, stamp: first.stamp, lines: [expect.stringContaining('forced')] });
  });

  it.each([
    ['a file under web/src', () => write('web/src/main.tsx', 'console.log(2);')],
    ['a new file under web/src', () => write('web/src/pages/New.tsx', 'export {};')],
    ['web/index.html', () => write('web/index.html', '<!doctype html>')],
    ['web/vite.config.mts', () => write('web/vite.config.mts', 'export default { base: "/" };')],
    ['web/tsconfig.json', () => write('web/tsconfig.json', '{"compilerOptions":{}}')],
    ['web/public', () => write('web/public/robots.txt', '')],
    ['the typed client (src/client)', () => write('src/client/schema.ts', 'export type X = 1;')],
    ['the installed vite', () => write('node_modules/vite/package.json', '{"version":"8.0.1"}')],
    ['an installed react', () => write('node_modules/react/package.json', '{"version":"19.0.0"}')],
  ])('builds again after a change to %s', (_what, change) => {
    const first = ensure();
    change();
    const next = ensure();
    expect(next).toMatchObject({ built: true, ran: true, lines: [expect.stringContaining('sources changed')] });
    expect(next.stamp).not.toBe(first.stamp);
  });

  it('ignores dotfiles and files outside its inputs', () => {
    const first = ensure();
    write('web/src/.main.tsx.swp', 'x');
    write('src/api/app.ts', 'x');
    write('web/README.md', 'x');
    expect(ensure()).toMatchObject({ built: false, stamp: first.stamp });
  });

  it('leaves no stamp when a build fails, so the next call builds again', () => {
    ensure();
    write('web/src/main.tsx', 'broken(');
    expect(ensure({ fail: true })).toMatchObject({ ran: true, error: 'syntax error in web/src' });
    expect(ensure()).toMatchObject({ built: true, ran: true, lines: [expect.stringContaining('first build')] });
  });

  it('builds again when web/dist/index.html is gone though the stamp matches', () => {
    ensure();
    rmSync(join(root, 'web/dist/index.html'));
    expect(ensure()).toMatchObject({ built: true, ran: true });
  });

  it('is skipped during npm install with ALLUSE_SKIP_WEB_BUILD=1', () => {
    const run = spawnSync(process.execPath, [SCRIPT], {
      encoding: 'utf8', env: { ...process.env, npm_lifecycle_event: 'postinstall', ALLUSE_SKIP_WEB_BUILD: '1' },
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('skipped (ALLUSE_SKIP_WEB_BUILD=1)');
  });
});
