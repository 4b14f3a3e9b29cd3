/**
 * The real Temporal server and its SQL schema tool, built from the Go module
 * proxy into `.tools/temporal-server/<version>/` (`temporal-server`,
 * `temporal-sql-tool`). A build takes minutes (about 5 on 2 cores, 160 MB),
 * so it is not part of `npm install`: the first `npm run stack:production` or
 * `npm run test:production` runs it, `npm run temporal:build` runs it alone,
 * and every later call finds the binaries and returns at once.
 *
 * Temporal 1.32 needs a newer Go than many machines have; GOTOOLCHAIN makes
 * the installed `go` fetch that toolchain from the module proxy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const TEMPORAL_SERVER_VERSION = '1.32.2';
/** The toolchain `go` switches to (Temporal 1.32.2's go.mod asks for Go 1.26.10). GOTOOLCHAIN in the environment wins. */
export const GO_TOOLCHAIN = 'go1.27.3';

const ROOT = resolve(__dirname, '../..');
const PACKAGES = { server: 'go.temporal.io/server/cmd/server', sqlTool: 'go.temporal.io/server/cmd/tools/sql' } as const;
/** What `go install` names each binary (the last path element), and the names they are kept under. */
const INSTALLED = { server: 'server', sqlTool: 'sql' } as const;
const NAMES = { server: 'temporal-server', sqlTool: 'temporal-sql-tool' } as const;

export interface TemporalBinaries {
  version: string;
  server: string;
  sqlTool: string;
}

export function temporalBinaries(version = TEMPORAL_SERVER_VERSION, root = ROOT): TemporalBinaries {
  const dir = join(root, '.tools', 'temporal-server', version);
  return { version, server: join(dir, NAMES.server), sqlTool: join(dir, NAMES.sqlTool) };
}

/** The `go` command: GO, else `go` on the PATH, else the usual /usr/local/go. */
export function findGo(): string | undefined {
  if (process.env.GO) return process.env.GO;
  const onPath = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  return existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined;
}

/**
 * The binaries of `version`, built first when missing. Both are installed
 * into a staging folder and moved into place together, so an interrupted
 * build leaves nothing that looks finished. `say` gets one line per step and
 * a heartbeat while the compiler runs.
 */
export async function ensureTemporalServer(opts: { version?: string; say?: (line: string) => void } = {}): Promise<TemporalBinaries> {
  const version = opts.version ?? TEMPORAL_SERVER_VERSION;
  const say = opts.say ?? ((line: string) => process.stderr.write(`[temporal-build] ${line}\n`));
  const bins = temporalBinaries(version);
  if (existsSync(bins.server) && existsSync(bins.sqlTool)) return bins;

  const go = findGo();
  if (!go) throw new Error('building the Temporal server needs Go (https://go.dev/dl/; any 1.21+ fetches the toolchain it needs): none found on the PATH or in /usr/local/go, and GO is not set');
  const dir = join(bins.server, '..');
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const toolchain = process.env.GOTOOLCHAIN ?? GO_TOOLCHAIN;
  const targets = Object.values(PACKAGES).map((p) => `${p}@v${version}`);
  say(`building Temporal server ${version} and its SQL schema tool into ${relative(ROOT, dir)}/ (${go}, GOTOOLCHAIN=${toolchain})`);
  say('the first build downloads the modules and compiles for several minutes (about 5 on 2 cores); later runs reuse it');
  const started = Date.now();
  try {
    await run(go, ['install', ...targets], { ...process.env, GOTOOLCHAIN: toolchain, GOBIN: staging }, say, started);
    for (const part of ['server', 'sqlTool'] as const) renameSync(join(staging, INSTALLED[part]), join(staging, NAMES[part]));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  say(`built in ${elapsed(started)}: ${relative(ROOT, bins.server)}, ${relative(ROOT, bins.sqlTool)}`);
  return bins;
}

const elapsed = (since: number) => {
  const s = Math.round((Date.now() - since) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};

/** Runs `go`, passing its own lines on ("go: downloading ...") and saying every 30 s that it is still at work. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, say: (line: string) => void, started: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n').map((l) => l.trim()).filter(Boolean)) {
        tail.push(line);
        tail.splice(0, Math.max(0, tail.length - 30));
        say(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const heartbeat = setInterval(() => say(`still compiling (${elapsed(started)})`), 30_000);
    const stop = () => child.kill('SIGTERM');
    // An interrupted build stops the compiler too (its own process group is ours, but a SIGTERM may come to us alone).
    process.once('SIGTERM', stop);
    child.once('error', (err) => {
      clearInterval(heartbeat);
      process.removeListener('SIGTERM', stop);
      fail(new Error(`could not run ${cmd}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearInterval(heartbeat);
      process.removeListener('SIGTERM', stop);
      if (code === 0) return done();
      fail(new Error(`go install failed (${code ?? signal}):\n${tail.join('\n')}`));
    });
  });
}

if (require.main === module) {
  ensureTemporalServer().then(
    (bins) => process.stdout.write(`Temporal server ${bins.version}: ${bins.server}\nSQL schema tool: ${bins.sqlTool}\n`),
    (err: Error) => {
      process.stderr.write(`temporal build failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
