import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrate, openOrm } from '../../src/db/orm';

/** A fresh, migrated database on the run's real PostgreSQL. */
export async function createTestDatabase(poolMax = 20): Promise<{ orm: MikroORM; url: string; close(): Promise<void> }> {
  const base = process.env.ALLUSE_TEST_PG_URL;
  if (!base) throw new Error('ALLUSE_TEST_PG_URL is not set: integration tests need the global setup');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = await openOrm(base, 1);
  await admin.em.getConnection().execute(`create database ${name}`);
  await admin.close();
  const url = base.replace(/\/[^/]+$/, `/${name}`);
  const orm = await openOrm(url, poolMax);
  await migrate(orm);
  return { orm, url, close: () => orm.close() };
}
