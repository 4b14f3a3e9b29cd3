import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from './entities';
import { Migration20261127000000_foundation } from './migrations/Migration20261127000000_foundation';
import { Migration20261127010000_protocols } from './migrations/Migration20261127010000_protocols';
import { Migration20261129000000_operators } from './migrations/Migration20261129000000_operators';
import { Migration20261129100000_statements } from './migrations/Migration20261129100000_statements';
import { Migration20261130000000_ledger_post } from './migrations/Migration20261130000000_ledger_post';
import { Migration20261130010000_shared_limits } from './migrations/Migration20261130010000_shared_limits';

export const MIGRATIONS = [
  { name: 'Migration20261127000000_foundation', class: Migration20261127000000_foundation },
  { name: 'Migration20261127010000_protocols', class: Migration20261127010000_protocols },
  { name: 'Migration20261129000000_operators', class: Migration20261129000000_operators },
  { name: 'Migration20261129100000_statements', class: Migration20261129100000_statements },
  { name: 'Migration20261130000000_ledger_post', class: Migration20261130000000_ledger_post },
  { name: 'Migration20261130010000_shared_limits', class: Migration20261130010000_shared_limits },
];

export function ormConfig(clientUrl: string, poolMax = 10) {
  return defineConfig({
    clientUrl,
    entities: ENTITIES,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: false },
    pool: { min: 0, max: poolMax },
    // Amounts stay strings end to end.
    forceUtcTimezone: true,
    migrations: { migrationsList: MIGRATIONS, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    debug: false,
  });
}

export async function openOrm(clientUrl: string, poolMax?: number): Promise<MikroORM> {
  return MikroORM.init(ormConfig(clientUrl, poolMax));
}

/** Applies pending migrations; never `schema:update`. Returns the names applied. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
