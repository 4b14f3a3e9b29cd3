import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ACTIVITY_TYPES } from '../domain/buckets';
import { isMoneyString } from '../domain/money';
import { TEMPLATE_NAMES, settingsOverridesSchema, settingsSchema } from '../domain/settings';
import { ROLES } from '../services/api-keys';

extendZodWithOpenApi(z);

const MONEY_HELP = 'a decimal string with at most 2 decimals and 15 integer digits, e.g. "50000.00"';

/** A positive amount of money as a decimal string (never a JSON number). */
export const positiveMoney = z
  .string({ error: `must be ${MONEY_HELP}` })
  .refine(isMoneyString, { message: `must be ${MONEY_HELP}` })
  .refine((v) => !isMoneyString(v) || /[1-9]/.test(v), { message: 'must be greater than zero' })
  .openapi({ type: 'string', example: '50000.00', pattern: '^(0|[1-9]\\d{0,14})(\\.\\d{1,2})?$' });

const moneyOut = z.string().openapi({ example: '120000.00' });
/** Lower-cased: the database answers ids in lower case, and audit chains and search attributes are named by them. */
const uuid = z.uuid({ error: 'must be a UUID' }).transform((id) => id.toLowerCase());

export const idParams = z.object({ id: uuid.openapi({ param: { name: 'id', in: 'path' } }) });

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    /** The business error's type (`InsufficientFunds`, `NotEligible`, `Conflict`, ...): what a client branches on. */
    code: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /** With a 409 for an operation already running: its id. */
    operationId: z.string().optional(),
    /** With a 422 NotEligible: why. */
    reasons: z.array(z.string()).optional(),
    /** With a 500: the reference to quote to an operator (the details are in the log). */
    errorId: z.string().optional(),
    /** With a 503: seconds to wait before trying again (also the Retry-After header). */
    retryAfter: z.number().optional(),
  })
  .openapi('Problem');

export const Settings = settingsSchema.meta({ id: 'Settings' });
export const SettingsOverrides = settingsOverridesSchema.meta({ id: 'SettingsOverrides' });

export const CreatePortfolioBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    owner: z.string().trim().min(1).max(200),
    initialCapital: positiveMoney,
    template: z.enum(TEMPLATE_NAMES).default('moderate'),
    settings: settingsOverridesSchema.optional(),
    openedAt: z.iso.date().optional().openapi({
      description: 'The day the capital was deposited (YYYY-MM-DD, not in the future); default today. Set it to import earlier broker statements: the opening entry is dated that day.',
    }),
  })
  .strict()
  .openapi('CreatePortfolio');

export const Account = z
  .object({
    id: z.string(),
    portfolioId: z.string(),
    unitId: z.string().nullable(),
    type: z.enum(['gen', 'rev', 'com']),
    status: z.string(),
    balance: moneyOut,
    baseBalance: moneyOut,
    surplus: moneyOut,
    buckets: z.object({ cash: moneyOut, contracts: moneyOut, leaps: moneyOut, reserve: moneyOut }),
    bufferRequired: moneyOut,
    parentAccountId: z.string().nullable(),
    brokerAccountId: z.string().nullable(),
    label: z.string().nullable(),
    createdAt: z.string(),
    version: z.number().int(),
  })
  .openapi('Account');

export const UpdateAccountBody = z
  .object({
    brokerAccountId: z
      .string().trim().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore, at most 64').nullable().optional()
      .openapi({ description: "The broker's account id (for example an Interactive Brokers account U1234567); statement lines naming it post here. Unique within the portfolio; null clears it." }),
    label: z.string().trim().min(1).max(100).nullable().optional(),
  })
  .strict()
  .refine((b) => b.brokerAccountId !== undefined || b.label !== undefined, { message: 'name brokerAccountId or label' })
  .openapi('UpdateAccount');

export const PortfolioSummary = z
  .object({
    id: z.string(),
    name: z.string(),
    owner: z.string(),
    baseCurrency: z.string(),
    template: z.string(),
    initialCapital: moneyOut,
    settings: Settings,
    createdAt: z.string(),
    updatedAt: z.string(),
    version: z.number().int(),
  })
  .openapi('PortfolioSummary');

export const Portfolio = PortfolioSummary.extend({
  totals: z.object({ balance: moneyOut, inFlight: moneyOut }),
  units: z.array(
    z.object({
      id: z.string(),
      parentUnitId: z.string().nullable(),
      forkedFromAccountId: z.string().nullable(),
      kind: z.enum(['root', 'forked']),
      status: z.string(),
      createdAt: z.string(),
      accounts: z.array(Account),
    }),
  ),
}).openapi('Portfolio');

export const ActivityBody = z
  .object({
    type: z.enum(ACTIVITY_TYPES),
    amount: positiveMoney,
    occurredAt: z.iso.datetime({ offset: true }).optional(),
    reference: z.string().max(200).optional(),
    note: z.string().max(1000).optional(),
  })
  .strict()
  .openapi('Activity');

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string({ error: 'the Idempotency-Key header is required' })
    .regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable ASCII characters without spaces'),
});

export const ActivityResult = z.object({ entryId: z.string(), account: Account }).openapi('ActivityResult');

export const EntriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(100).optional(),
  format: z.enum(['json', 'csv']).default('json').openapi({
    description: 'json: a page of postings, newest first. csv: every posting, oldest first, with the running balance (limit and cursor do not apply).',
  }),
});

export const Entries = z
  .object({
    items: z.array(
      z.object({
        entryId: z.string(),
        postingId: z.string(),
        kind: z.string(),
        amount: z.string(),
        bucket: z.string(),
        occurredAt: z.string(),
        operationId: z.string().nullable(),
        actor: z.string(),
        reference: z.string().nullable(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi('Entries');

export const Integrity = z
  .object({ ok: z.boolean(), checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })) })
  .openapi('Integrity');

export const AuditQuery = z.object({
  portfolioId: uuid.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const AuditItems = z
  .object({
    items: z.array(
      z.object({
        id: z.string(), chain: z.string(), seq: z.string(), at: z.string(), actor: z.string(), action: z.string(),
        targetType: z.string().nullable(), targetId: z.string().nullable(), portfolioId: z.string().nullable(),
        details: z.record(z.string(), z.unknown()), hash: z.string(), prevHash: z.string(),
      }),
    ),
  })
  .openapi('AuditItems');

export const CreateApiKeyBody = z.object({ name: z.string().trim().min(1).max(100), role: z.enum(ROLES) }).strict();
export const CreatedApiKey = z.object({ id: z.string(), key: z.string(), name: z.string(), role: z.enum(ROLES) }).openapi('CreatedApiKey');
