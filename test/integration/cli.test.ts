import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ok } from '../../src/client';
import { freePort } from '../support/ports';
import { type ProtocolStack, startProtocolStack } from '../support/stack';

/**
 * The `alluse` command line end to end: bin/alluse.js run as a subprocess
 * (as `npx alluse` runs it) against the real API, worker, PostgreSQL and
 * Temporal. Each case checks the output, the exit code, and what really
 * happened through the API.
 */
jest.setTimeout(120_000);

const ROOT = join(__dirname, '../..');
let s: ProtocolStack;
let home: string;

beforeAll(async () => {
  s = await startProtocolStack();
  home = mkdtempSync(join(tmpdir(), 'alluse-cli-'));
});
afterAll(async () => {
  await s?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; by default with the admin key in the environment (no config file involved). */
function cli(args: string[], opts: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Run> {
  const env: Record<string, string | undefined> = {
    ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ALLUSE_CONFIG: join(home, 'none', 'config.json'),
    ALLUSE_URL: s.api.url, ALLUSE_API_KEY: s.api.keys.admin, ...opts.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/alluse.js', ...args], { cwd: ROOT, env: env as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A run expected to succeed; its stdout parsed when it is --json. */
async function succeeds(args: string[], opts?: Parameters<typeof cli>[1]): Promise<Run> {
  const r = await cli(args, opts);
  if (r.code !== 0) throw new Error(`alluse ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}
async function json<T = any>(args: string[], opts?: Parameters<typeof cli>[1]): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  return JSON.parse((await succeeds([...args, '--json'], opts)).stdout) as T;
}

const account = (id: string) => ok(s.api.client.GET('/v1/accounts/{id}', { params: { path: { id } } }));
const operation = (operationId: string) => ok(s.api.client.GET('/v1/operations/{operationId}', { params: { path: { operationId } } }));

/** Polls `probe` until it returns something, for at most 60 s (a deadline, not a count: a busy machine is slow, not wrong). */
async function eventually<T>(probe: () => Promise<T | undefined>, ms = 60_000): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A portfolio created through the CLI, with its root accounts' ids. */
async function create(name: string, ...flags: string[]) {
  const p = await json(['create', name, '--capital', '300000.00', ...flags]);
  const acct = (t: string) => p.units[0].accounts.find((a: { type: string }) => a.type === t).id as string;
  return { id: p.id as string, gen: acct('gen'), rev: acct('rev'), com: acct('com') };
}

describe('login and keys', () => {
  it('stores a checked key in a 0600 file in a 0700 directory, refuses a bad one with exit 3, and says what to do', async () => {
    // The default location ($XDG_CONFIG_HOME/alluse), there already with modes too wide: login narrows both.
    const dir = join(home, 'xdg', 'alluse');
    const config = join(dir, 'config.json');
    const env = { ALLUSE_CONFIG: undefined, XDG_CONFIG_HOME: join(home, 'xdg'), ALLUSE_API_KEY: undefined, ALLUSE_URL: undefined };

    const bad = await cli(['login', '--url', s.api.url, '--key', 'alu_not-a-key'], { env });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('refused this key');
    expect(bad.stderr).toContain('nothing was saved');
    expect(() => statSync(config)).toThrow();

    // An older, world-readable file in a 0755 directory is replaced by a 0600 one in a 0700 directory; the key comes in on stdin and is never printed.
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    writeFileSync(config, '{"url":"http://old","apiKey":"old"}', { mode: 0o644 });
    chmodSync(config, 0o644);
    const good = await succeeds(['login', '--url', s.api.url], { env, input: `${s.api.keys.operator}\n` });
    expect(good.stdout).toContain(`Logged in to ${s.api.url}`);
    expect(good.stdout).toContain(`Saved to ${config} (mode 0600)`);
    expect(good.stdout).toContain(s.api.keys.operator.slice(0, 8));
    expect(good.stdout + good.stderr).not.toContain(s.api.keys.operator);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toMatchObject({ url: s.api.url, apiKey: s.api.keys.operator });

    // The stored key works alone (an empty ALLUSE_URL is unset); the environment wins over it.
    expect((await json(['portfolios'], { env })).items).toEqual(expect.any(Array));
    expect((await json(['portfolios'], { env: { ...env, ALLUSE_URL: '' } })).items).toEqual(expect.any(Array));
    const overridden = await cli(['portfolios'], { env: { ...env, ALLUSE_API_KEY: 'alu_revoked' } });
    expect(overridden.code).toBe(3);
    expect(overridden.stderr).toContain('ALLUSE_API_KEY');

    // The stored key never follows ALLUSE_URL to another origin (localhost is not 127.0.0.1): that needs ALLUSE_API_KEY too.
    const elsewhere = s.api.url.replace('127.0.0.1', 'localhost');
    const followed = await cli(['portfolios'], { env: { ...env, ALLUSE_URL: elsewhere } });
    expect(followed.code).toBe(3);
    expect(followed.stderr).toContain(`the stored key belongs to ${s.api.url}, and it is not sent to another host`);
    expect(followed.stderr).toContain('set ALLUSE_API_KEY');
    expect((await json(['portfolios'], { env: { ...env, ALLUSE_URL: elsewhere, ALLUSE_API_KEY: s.api.keys.viewer } })).items).toEqual(expect.any(Array));
    // login says so at once when ALLUSE_URL would send later commands elsewhere.
    const shadowed = await succeeds(['login', '--url', s.api.url], { env: { ...env, ALLUSE_URL: elsewhere }, input: s.api.keys.operator });
    expect(shadowed.stderr).toContain(`ALLUSE_URL is set to ${elsewhere}: commands go there, not to ${s.api.url}`);

    expect((await succeeds(['logout'], { env })).stdout).toContain('Removed');
    const out = await cli(['portfolios'], { env });
    expect(out.code).toBe(3);
    expect(out.stderr).toContain('not logged in');
    expect(out.stderr).toContain('alluse login');
  });

  it('ALLUSE_CONFIG elsewhere: a directory the CLI creates is 0700, an existing one keeps its mode; env-only use ignores the file', async () => {
    const created = join(home, 'new', 'deeper', 'config.json');
    await succeeds(['login', '--url', s.api.url], { env: { ALLUSE_CONFIG: created, ALLUSE_API_KEY: undefined, ALLUSE_URL: undefined }, input: s.api.keys.viewer });
    expect(statSync(join(home, 'new', 'deeper')).mode & 0o777).toBe(0o700);
    expect(statSync(created).mode & 0o777).toBe(0o600);

    // Like ALLUSE_CONFIG=~/alluse.json: the directory is not ours to chmod, only the file is 0600.
    const shared = join(home, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o755);
    const config = join(shared, 'alluse.json');
    const logged = await json(['login', '--url', s.api.url], { env: { ALLUSE_CONFIG: config, ALLUSE_API_KEY: undefined, ALLUSE_URL: undefined }, input: s.api.keys.viewer });
    expect(logged).toMatchObject({ url: s.api.url, config, portfolios: expect.any(Number) });
    expect(statSync(shared).mode & 0o777).toBe(0o755);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(await json(['logout'], { env: { ALLUSE_CONFIG: config } })).toEqual({ config, removed: true });

    // A damaged, world-readable file: no concern of a run with both ALLUSE_URL and ALLUSE_API_KEY (the default env of cli()).
    writeFileSync(config, 'not json', { mode: 0o644 });
    chmodSync(config, 0o644);
    const envOnly = await succeeds(['portfolios', '--json'], { env: { ALLUSE_CONFIG: config } });
    expect(envOnly.stderr).toBe('');
    const keyOnly = await cli(['portfolios'], { env: { ALLUSE_CONFIG: config, ALLUSE_URL: undefined } });
    expect(keyOnly.code).toBe(2);
    expect(keyOnly.stderr).toContain('is not an alluse config file');
  });

  it('a viewer cannot create (exit 3), an unreachable engine is exit 7, a port fetch blocks and bad arguments exit 2', async () => {
    const viewer = await cli(['create', 'V', '--capital', '1000.00'], { env: { ALLUSE_API_KEY: s.api.keys.viewer } });
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toContain('role is too low');
    const closed = await freePort(); // bound and closed again: nothing listens there
    const down = await cli(['portfolios'], { env: { ALLUSE_URL: `http://127.0.0.1:${closed}` } });
    expect(down.code).toBe(7);
    expect(down.stderr).toContain('ECONNREFUSED');
    expect(down.stderr).toContain('npm start');
    // fetch refuses port 9 (and the Fetch standard's other "bad ports") without connecting: not the engine's fault.
    const blocked = await cli(['portfolios'], { env: { ALLUSE_URL: 'http://127.0.0.1:9' } });
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain('port 9 is blocked by fetch; use another port');
    expect(blocked.stderr).not.toContain('npm start');
    const usage = await cli(['fork']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'account'");
    const help = await succeeds(['--help']);
    expect(help.stdout).toContain('Exit codes:');
  });

  it('colours: FORCE_COLOR turns them on for a pipe, a non-empty NO_COLOR off, an empty NO_COLOR is unset', async () => {
    const env = (NO_COLOR: string) => ({ env: { NO_COLOR, FORCE_COLOR: '1', ALLUSE_URL: 'http://127.0.0.1:9' } });
    expect((await cli(['portfolios'], env(''))).stderr).toContain('\x1b[31merror:');
    expect((await cli(['portfolios'], env('1'))).stderr).not.toContain('\x1b[');
  });
});

describe('portfolios, activity and forks', () => {
  it('create and tree: the progress toward the fork threshold is exact and rounds down', async () => {
    const p = await create('Tree');
    expect(await account(p.gen)).toMatchObject({ balance: '120000.00' });
    await succeeds(['post', p.gen, 'premium', '40000.00']);
    let tree = (await succeeds(['tree', p.id])).stdout;
    expect(tree).toContain('total 340,000.00');
    expect(tree).toMatch(/fork\s+\[#{16}\.{4}\]\s+80\.0%\s+surplus 40,000\.00 of 50,000\.00/);
    await succeeds(['post', p.gen, 'premium', '9999.99']);
    tree = (await succeeds(['tree', 'Tree'])).stdout; // by name, too
    expect(tree).toMatch(/fork\s+\[#{19}\.\]\s+99\.9%\s+surplus 49,999\.99 of 50,000\.00/);
    expect(tree).not.toContain('threshold reached');
    expect((await json(['tree', p.id])).totals.balance).toBe('349999.99');

    // One cent short: the fork is refused by the rules with the reason, nothing started.
    const refused = await cli(['fork', p.gen]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('not eligible');
    expect(refused.stderr).toContain('surplus 49999.99 is below the fork threshold 50000.00');
    const dry = await cli(['fork', p.gen, '--dry-run']);
    expect(dry.code).toBe(5);
    expect(dry.stdout).toContain('Not eligible');
    expect((await account(p.gen)).status).toBe('active');
  });

  it('post validates amounts, repeats idempotently by --key, and an unknown account is exit 4', async () => {
    const p = await create('Post');
    const bad = await cli(['post', p.rev, 'premium', '50,000']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not an amount');
    const first = await succeeds(['post', p.rev, 'premium', '1500.5', '--key', 'w48-rev']);
    expect(first.stdout).toContain('Recorded premium 1,500.50');
    const again = await succeeds(['post', p.rev, 'premium', '1500.5', '--key', 'w48-rev']);
    expect(again.stdout).toContain('Already recorded with key w48-rev');
    expect(await account(p.rev)).toMatchObject({ balance: '91500.50', surplus: '1500.50' });
    const conflict = await cli(['post', p.rev, 'premium', '1.00', '--key', 'w48-rev']);
    expect(conflict.code).toBe(5);

    const missing = randomUUID();
    const unknown = await cli(['post', missing, 'premium', '1.00']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain(`no account ${missing}`);
    expect((await cli(['tree', randomUUID()])).code).toBe(4);
    const refused = await cli(['post', p.com, 'withdrawal', '10.00', '--json']);
    expect(refused.code).toBe(5);
    expect(JSON.parse(refused.stdout)).toMatchObject({ status: 422, code: 'WithdrawalNotAllowed' });
  });

  it('a premium, fork --dry-run, then the fork followed to completion; the tree, ops, watch and reports show it', async () => {
    const p = await create('Fork');
    await succeeds(['post', p.gen, 'premium', '50001.01', '--key', '2026-W48-gen']);
    const dry = await succeeds(['fork', p.gen, '--dry-run']);
    expect(dry.stdout).toMatch(/fork amount\s+50,001\.01/);
    expect(dry.stdout).toMatch(/new Gen-Acc\s+25,000\.51/);
    expect(dry.stdout).toMatch(/new Com-Acc\s+25,000\.50/);
    expect((await account(p.gen)).balance).toBe('170001.01');

    const op = `fork-${p.gen}-1`;
    const fork = await succeeds(['fork', p.gen, '--timeout', '60']);
    expect(fork.stdout).toContain(`Started ${op}`);
    expect(fork.stdout).toMatch(/✓ fund-children\s+completed/);
    expect(fork.stdout).toContain(`${op} completed`);
    const done = await operation(op);
    expect(done.status).toBe('completed');
    const { newUnitId, newGenAccountId, newComAccountId } = (done.result as { summary: { newUnitId: string; newGenAccountId: string; newComAccountId: string } }).summary;
    expect(fork.stdout).toContain(`into unit ${newUnitId}`);
    expect(await account(p.gen)).toMatchObject({ balance: '120000.00', surplus: '0.00' });
    expect(await account(newGenAccountId)).toMatchObject({ balance: '25000.51' });
    expect(await account(newComAccountId)).toMatchObject({ balance: '25000.50' });

    const tree = (await succeeds(['tree', p.id])).stdout;
    expect(tree).toContain(`forked unit ${newUnitId}  active  total 50,001.01`);
    expect(tree).toMatch(/merge\s+\[##\.{18}\]\s+10\.0%\s+total 50,001\.01 of 500,000\.00/);

    const [ops, watched, watchedJson, forks, growth] = await Promise.all([
      json(['ops', '--portfolio', p.id]), succeeds(['watch', op, '--timeout', '60']), json(['watch', op, '--timeout', '60']), json(['report', 'forks', p.id]),
      json(['report', 'growth', p.id, '--period', 'year']),
    ]);
    expect(ops.items.map((o: { operationId: string }) => o.operationId)).toContain(op);
    expect(watched.stdout).toMatch(/✓ complete\s+completed/);
    expect(watchedJson).toMatchObject({ operationId: op, status: 'completed' });
    expect(forks.items).toEqual([expect.objectContaining({ operationId: op, amount: '50001.01', unitId: newUnitId })]);
    expect(growth.rows.at(-1)).toMatchObject({ closing: '350001.01' });
    expect((await succeeds(['report', 'forks', p.id])).stdout).toContain('50,001.01');
    expect((await cli(['watch', `fork-${p.gen}-9`])).code).toBe(4);
    // The same fork again: refused (cooling, no surplus), exit 5.
    expect((await cli(['fork', p.gen])).code).toBe(5);
  });
});

describe('operators, imports, projections', () => {
  it('tasks and decide: an approval, a wrong decision, the fork completing; a cancelled one is exit 6', async () => {
    const p = await create('Approvals', '--approvals', 'fork');
    await succeeds(['post', p.gen, 'premium', '50001.02']);
    const op = `fork-${p.gen}-1`;
    expect((await succeeds(['fork', p.gen, '--no-wait'])).stdout).toContain(`Started ${op}`);
    const task = await eventually(async () => (await ok(s.api.client.GET('/v1/tasks', { params: { query: { portfolioId: p.id, status: 'open', limit: 10 } } }))).items[0]);
    expect(task).toMatchObject({ kind: 'approval' });
    const listed = await succeeds(['tasks', '--portfolio', p.id]);
    expect(listed.stdout).toContain(task!.id);
    expect(listed.stdout).toContain(`Approve the fork ${op}`);
    expect((await cli(['decide', task!.id, 'done'])).code).toBe(2);
    expect((await json(['decide', task!.id, 'approve', '--note', 'looks right'])).status).toBe('done');
    expect((await succeeds(['watch', op, '--timeout', '60'])).stdout).toContain(`${op} completed`);
    expect((await account(p.gen)).balance).toBe('120000.00');
    const twice = await cli(['decide', task!.id, 'reject']);
    expect(twice.code).toBe(5);

    // A second one, cancelled while it waits: nothing moves, and watching it ends with exit 6.
    const q = await create('Cancelled', '--approvals', 'fork');
    await succeeds(['post', q.gen, 'premium', '50001.02']);
    await succeeds(['fork', q.gen, '--no-wait']);
    const qop = `fork-${q.gen}-1`;
    await eventually(async () => (await operation(qop)).status === 'waiting' || undefined);
    expect((await operation(qop)).status).toBe('waiting');
    expect((await succeeds(['cancel', qop, '--timeout', '60'])).stdout).toContain(`${qop} cancelled`);
    const watched = await cli(['watch', qop, '--timeout', '60']);
    expect(watched.code).toBe(6);
    expect(watched.stderr).toContain('ended cancelled');
    expect((await account(q.gen)).balance).toBe('170001.02');
  });

  it('imports the November CSV with counts and reconciliation; the second time every line is a duplicate', async () => {
    const p = await create('November', '--opened-at', '2026-11-02');
    await succeeds(['account', p.rev, '--broker-account', 'U7410022']);
    expect((await json(['account', p.com, '--broker-account', 'U7410023'])).brokerAccountId).toBe('U7410023');
    const file = join('examples', 'statement-november.csv');
    const first = await json(['import', p.id, file]);
    expect(first).toMatchObject({ status: 'completed', format: 'csv', posted: 19, duplicates: 0, rejected: [] });
    expect(first.reconciliation.map((r: { brokerAccountId: string; difference: string }) => [r.brokerAccountId, r.difference]))
      .toEqual([['U7410022', '0.00'], ['U7410023', '0.00']]);
    expect(await account(p.rev)).toMatchObject({ balance: '91662.70' });
    expect(await account(p.com)).toMatchObject({ balance: '97404.25' });

    const again = await succeeds(['import', 'November', file]);
    expect(again.stdout).toMatch(/LINES\s+POSTED\s+DUPLICATES\s+REJECTED\s+IGNORED\n\s+22\s+0\s+19\s+0\s+0/);
    expect(again.stdout).toMatch(/U7410022\s+2026-11-27\s+91,662\.70\s+91,662\.70\s+0\.00/);
    expect((await account(p.rev)).balance).toBe('91662.70');
    const unknownFormat = await cli(['import', p.id, 'README.md']);
    expect(unknownFormat.code).toBe(2);
    expect(unknownFormat.stderr).toContain('--format');
  });

  it('an IBKR statement for unmapped accounts: rejected lines are counted once, however many postings each has', async () => {
    const p = await create('Unmapped', '--opened-at', '2026-11-02');
    const r = await cli(['import', p.id, join('examples', 'ibkr-flex-november.xml'), '--timeout', '60', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { status: string; rejected: { line: number }[] };
    expect(doc.status).toBe('completed');
    const lines = new Set(doc.rejected.map((x) => x.line)).size;
    // A trade and its commission are two rejected postings of one line.
    expect(lines).toBeLessThan(doc.rejected.length);
    expect(r.stderr).toContain(`warning: ${lines} lines rejected`);
    const human = await succeeds(['import', p.id, join('examples', 'ibkr-flex-november.xml'), '--timeout', '60']);
    expect(human.stdout).toMatch(new RegExp(`LINES\\s+POSTED\\s+DUPLICATES\\s+REJECTED\\s+IGNORED\\n\\s+\\d+\\s+0\\s+0\\s+${lines}\\s`));
  });

  it('projection: a table by year, and --json parses', async () => {
    const [table, doc] = await Promise.all([succeeds(['projection', '--years', '2']), json(['projection', '--years', '2', '--capital', '300000'])]);
    expect(table.stdout).toMatch(/YEAR\s+MARKET\s+TOTAL/);
    expect(doc.years).toHaveLength(2);
    expect(doc.years[0]).toMatchObject({ year: 1, total: expect.stringMatching(/^\d+\.\d\d$/) });
    expect(table.stdout).toContain(doc.years[1].total.replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  });
});

/**
 * What the real engine will not do on cue: answer 503, drop the connection,
 * hang, or complete an operation while a cancel is on its way. A stub
 * server plays the engine's part for the CLI (the real one decides nothing
 * here, and nothing can be posted twice).
 */
describe('when the engine misbehaves (a stub server)', () => {
  interface Stub {
    url: string;
    requests: { method: string; path: string; key?: string }[];
    close(): Promise<void>;
  }
  const stubs: Stub[] = [];
  afterEach(async () => {
    await Promise.all(stubs.splice(0).map((x) => x.close()));
  });

  async function stub(handle: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Stub> {
    const requests: Stub['requests'] = [];
    const server = createServer((req, res) => {
      requests.push({ method: req.method!, path: req.url!, key: req.headers['idempotency-key'] as string | undefined });
      req.resume();
      req.on('end', () => handle(req, res, requests.length));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const x: Stub = {
      url: `http://127.0.0.1:${port}`,
      requests,
      close: () => new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    };
    stubs.push(x);
    return x;
  }
  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type });
    res.end(JSON.stringify(body));
  };
  const problem = (status: number, detail: string) => ({ type: 'about:blank', title: 'x', status, detail });
  const on = (x: Stub, args: string[], extra: Record<string, string | undefined> = {}) => cli(args, { env: { ALLUSE_URL: x.url, ALLUSE_API_KEY: 'alu_stub', ...extra } });
  const op = (status: string, steps: { name: string; status: string }[] = []) => ({
    operationId: 'fork-stub-1', type: 'fork', status, startedAt: '2026-11-28T09:30:00.000Z', steps: steps.map((st) => ({ ...st, at: '2026-11-28T09:30:00.000Z' })),
    ...(['completed', 'failed', 'cancelled', 'compensated'].includes(status) && { closedAt: '2026-11-28T09:30:01.000Z' }),
  });

  it('post: the generated key is printed before sending; with no sure answer the hint is to check, and retry only with that key', async () => {
    const accountId = randomUUID();
    for (const fail of ['503', 'drop'] as const) {
      const x = await stub((req, res) => (fail === 'drop' ? req.socket.destroy() : send(res, 503, problem(503, 'upstream unavailable'), 'application/problem+json')));
      const r = await on(x, ['post', accountId, 'premium', '100.00']);
      expect(r.code).toBe(7);
      const key = x.requests[0]!.key!;
      expect(key).toMatch(/^cli-[0-9a-f-]{36}$/);
      // First on stderr, before any error: the key was known before the request went out.
      expect(r.stderr.startsWith(`idempotency key: ${key}\n`)).toBe(true);
      expect(r.stderr).toContain(`it may have been recorded: check \`alluse account ${accountId}\`, and retry only with \`--key ${key}\``);
      expect(r.stderr).not.toContain('try again');
      expect(r.stderr).toContain(fail === 'drop' ? 'lost the connection' : 'no confirmation from the engine (503');
    }
    // A key given with --key is not echoed (the user has it) but is the one the hint names; a 429 was refused before any work and may be retried.
    const limited = await stub((_req, res) => {
      res.setHeader('retry-after', '3');
      send(res, 429, problem(429, 'too many requests'), 'application/problem+json');
    });
    const r = await on(limited, ['post', accountId, 'premium', '100.00', '--key', 'w48']);
    expect(r.code).toBe(7);
    expect(r.stderr).not.toContain('idempotency key:');
    expect(r.stderr).toContain('try again in 3 seconds');
  });

  it('cancel: exit 0 only when the operation ended cancelled or compensated; a cancel that lost the race is exit 6 and says so', async () => {
    for (const [ending, code, says] of [['cancelled', 0, 'fork-stub-1 cancelled'], ['compensated', 0, 'fork-stub-1 compensated'],
      ['completed', 6, 'completed before the cancellation reached it'], ['failed', 6, 'ended failed, not cancelled']] as const) {
      const x = await stub((req, res) => (req.method === 'POST' ? send(res, 202, { operationId: 'fork-stub-1', status: 'cancelling' }) : send(res, 200, op(ending))));
      const r = await on(x, ['cancel', 'fork-stub-1', '--timeout', '60']);
      expect({ ending, code: r.code }).toEqual({ ending, code });
      expect(r.stdout + r.stderr).toContain(says);
      const j = await on(x, ['cancel', 'fork-stub-1', '--timeout', '60', '--json']);
      expect(j.code).toBe(code);
      expect(JSON.parse(j.stdout)).toMatchObject({ status: ending });
    }
  });

  it('watch: retries a 503 while following, backs off while nothing changes, and --timeout caps a hung request', async () => {
    // running, two 503s (the engine restarting), then completed: followed to the end, exit 0.
    const flaky = await stub((_req, res, n) => {
      if (n === 1) return send(res, 200, op('running', [{ name: 'check-eligibility', status: 'running' }]));
      if (n <= 3) return send(res, 503, problem(503, 'not ready'), 'application/problem+json');
      send(res, 200, op('completed', [{ name: 'check-eligibility', status: 'completed' }]));
    });
    const recovered = await on(flaky, ['watch', 'fork-stub-1', '--timeout', '60']);
    expect(recovered.code).toBe(0);
    expect(recovered.stdout).toMatch(/✓ check-eligibility\s+completed/);
    expect(flaky.requests).toHaveLength(4);

    // Nothing changes for 4 s: polls grow apart (250 ms each would be 16 of them); the last state is the --json document.
    const stuck = await stub((_req, res) => send(res, 200, op('waiting')));
    const waited = await on(stuck, ['watch', 'fork-stub-1', '--timeout', '4', '--json']);
    expect(waited.code).toBe(7);
    expect(waited.stderr).toContain('fork-stub-1 is still waiting after 4 s');
    expect(JSON.parse(waited.stdout)).toMatchObject({ operationId: 'fork-stub-1', status: 'waiting' });
    expect(stuck.requests.length).toBeGreaterThanOrEqual(3);
    expect(stuck.requests.length).toBeLessThanOrEqual(9);

    // An engine that never answers: --timeout 2 ends it in about 2 s, not after the 30 s request deadline.
    const hung = await stub(() => undefined);
    const started = Date.now();
    const gaveUp = await on(hung, ['watch', 'fork-stub-1', '--timeout', '2']);
    expect(gaveUp.code).toBe(7);
    expect(gaveUp.stderr).toContain('did not answer in time');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('import --timeout with --json prints the import as last seen', async () => {
    const portfolioId = randomUUID();
    const importId = randomUUID();
    const view = {
      id: importId, portfolioId, operationId: `import-${importId}`, format: 'csv', atomic: false, status: 'running', lines: 22, pending: 19, posted: 0,
      duplicates: 0, rejected: [], ignored: [], reconciliation: [], valuations: [], error: null, createdAt: '2026-11-28T09:30:00.000Z', completedAt: null,
    };
    const x = await stub((req, res) => (req.method === 'POST'
      ? send(res, 202, { importId, operationId: view.operationId, status: 'running' })
      : send(res, 200, view)));
    const r = await on(x, ['import', portfolioId, join('examples', 'statement-november.csv'), '--timeout', '2', '--json']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`import ${importId} is still running after 2 s`);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: importId, status: 'running', pending: 19 });
  });
});
