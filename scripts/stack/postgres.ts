/**
 * PostgreSQL of the production topology: the embedded server (the engine's
 * own src/infra/embedded-postgres.ts) on the stack's data folder, with a
 * role and databases per tenant, as a DBA would set up a shared server:
 *
 *   role `temporal`  owns `temporal` and `temporal_visibility` (Temporal's schemas, set up by its SQL tool)
 *   role `alluse`    owns `alluse` (the engine's tables, set up by its migrations)
 *
 * Neither role is a superuser; each password is generated once into the
 * stack's folder (mode 0600).
 */
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres, runningPostgres } from '../../src/infra/embedded-postgres';
import type { Logger } from '../../src/infra/logger';
import { secret } from './secrets';
import type { ChildRegistry } from './watchdog';

export const TEMPORAL_DATABASES = { default: 'temporal', visibility: 'temporal_visibility' } as const;
const ENGINE_DATABASE = 'alluse';

export interface StackPostgres {
  port: number;
  /** The engine's database, as its role. */
  engineUrl: string;
  temporal: { user: string; password: string };
  stop(): Promise<void>;
}

export async function startStackPostgres(opts: { dir: string; port: number; log: Logger; registry: ChildRegistry }): Promise<StackPostgres> {
  const dataDir = join(opts.dir, 'postgres');
  // The superuser's own database: the tenants' databases are created below with their owners.
  const server = await startEmbeddedPostgres({ dataDir, port: opts.port, database: 'postgres', log: opts.log, startTimeoutMs: 180_000 });
  const pid = runningPostgres(dataDir);
  // SIGINT: PostgreSQL's fast shutdown (rolls back open transactions, then exits).
  if (pid) opts.registry.add({ pid, signal: 'SIGINT', group: false });
  const stop = async () => {
    await server.stop();
    if (pid) opts.registry.remove(pid);
  };
  try {
    const roles = {
      temporal: secret(join(opts.dir, 'temporal-db-password')),
      alluse: secret(join(opts.dir, 'alluse-db-password')),
    };
    await provision(server.urlFor('postgres'), [
      { role: 'temporal', password: roles.temporal, databases: Object.values(TEMPORAL_DATABASES) },
      { role: 'alluse', password: roles.alluse, databases: [ENGINE_DATABASE] },
    ]);
    return {
      port: opts.port,
      engineUrl: `postgres://alluse:${encodeURIComponent(roles.alluse)}@127.0.0.1:${opts.port}/${ENGINE_DATABASE}`,
      temporal: { user: 'temporal', password: roles.temporal },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates each role (or resets its password to the stored one) and its databases; a no-op for what exists. */
async function provision(superuserUrl: string, tenants: { role: string; password: string; databases: string[] }[]): Promise<void> {
  const client = new Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    for (const t of tenants) {
      const exists = (await client.query('select 1 from pg_roles where rolname = $1', [t.role])).rowCount! > 0;
      // Utility statements take no parameters: the password goes in as a quoted literal.
      await client.query(`${exists ? 'alter' : 'create'} role ${client.escapeIdentifier(t.role)} login password ${client.escapeLiteral(t.password)}`);
      for (const db of t.databases) {
        const has = (await client.query('select 1 from pg_database where datname = $1', [db])).rowCount! > 0;
        if (!has) await client.query(`create database ${client.escapeIdentifier(db)} owner ${client.escapeIdentifier(t.role)}`);
      }
    }
  } finally {
    await client.end();
  }
}
