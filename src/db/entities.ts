import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { PortfolioSettings } from '../domain/settings';

/**
 * MikroORM entity schemas (no decorators, no reflect-metadata). The schema
 * itself is owned by the migrations in ./migrations; these map it for reads and
 * simple writes. Amounts map to strings (numeric(20,2)), never to numbers.
 */
const p = defineEntity.properties;

export const Portfolio = defineEntity({
  name: 'Portfolio',
  tableName: 'portfolios',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(200),
    owner: p.string().length(200),
    baseCurrency: p.string().length(3),
    template: p.string().length(20),
    settings: p.json<PortfolioSettings>(),
    initialCapital: p.decimal('string').precision(20).scale(2),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    version: p.integer().version(),
  },
});
export type PortfolioRow = InferEntity<typeof Portfolio>;

export const Unit = defineEntity({
  name: 'Unit',
  tableName: 'units',
  properties: {
    id: p.uuid().primary(),
    portfolioId: p.uuid(),
    parentUnitId: p.uuid().nullable(),
    forkedFromAccountId: p.uuid().nullable(),
    kind: p.string().length(10),
    status: p.string().length(20),
    createdAt: p.datetime(),
  },
});
export type UnitRow = InferEntity<typeof Unit>;

export const Account = defineEntity({
  name: 'Account',
  tableName: 'accounts',
  properties: {
    id: p.uuid().primary(),
    portfolioId: p.uuid(),
    unitId: p.uuid().nullable(),
    type: p.string().length(10),
    status: p.string().length(20),
    baseBalance: p.decimal('string').precision(20).scale(2),
    cash: p.decimal('string').precision(20).scale(2),
    contracts: p.decimal('string').precision(20).scale(2),
    leaps: p.decimal('string').precision(20).scale(2),
    reserve: p.decimal('string').precision(20).scale(2),
    balance: p.decimal('string').precision(20).scale(2).persist(false),
    version: p.integer(),
    parentAccountId: p.uuid().nullable(),
    lastForkAt: p.datetime().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type AccountRow = InferEntity<typeof Account>;

export const ApiKey = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(100),
    role: p.string().length(10),
    keyHash: p.string().length(64),
    keyPrefix: p.string().length(16),
    createdBy: p.string().length(200),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
  },
});
export type ApiKeyRow = InferEntity<typeof ApiKey>;

export const ENTITIES = [Portfolio, Unit, Account, ApiKey];
