import { z } from 'zod';
import { isTimeZone } from '../shared/calendar';
import { Dec, isMoneyString } from './money';

export const TEMPLATES = {
  moderate: { gen: '0.40', rev: '0.30', com: '0.30', bufferPct: '0.05' },
  conservative: { gen: '0.30', rev: '0.50', com: '0.20', bufferPct: '0.07' },
  aggressive: { gen: '0.50', rev: '0.20', com: '0.30', bufferPct: '0.03' },
} as const;
export type TemplateName = keyof typeof TEMPLATES;
export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as [TemplateName, ...TemplateName[]];

export const STRATEGY_NAMES = ['standard', 'aggressive', 'conservative', 'balanced', 'dynamic'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** A fraction in [0, 1], given as a decimal string ("0.05") or a JSON number; stored as a string. */
export const pctSchema = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine((v) => /^(0|1)(\.\d{1,6})?$/.test(v) && new Dec(v).lte(1), {
    message: 'must be a fraction between 0 and 1 with at most 6 decimals, e.g. "0.05"',
  });

export const thresholdSchema = z
  .string()
  .refine((v) => isMoneyString(v) && new Dec(v).gt(0), { message: 'must be a positive decimal string with at most 2 decimals' });

const hours = z.number().int().min(0).max(24 * 365);

export const timeZoneSchema = z
  .string()
  .max(64)
  .refine(isTimeZone, { message: 'must be an IANA time zone such as "America/New_York" or "UTC"' });

/** Every operator-tunable rule of docs/domain.md; defaults are the documented ones. */
export const settingsShape = {
  bufferPct: pctSchema,
  forkThreshold: thresholdSchema,
  forkCoolingHours: hours,
  maxForksPerDay: z.number().int().min(0).max(1000),
  minAccountAgeDays: z.number().int().min(0).max(3650),
  parentRetainPct: pctSchema,
  childGenPct: pctSchema,
  mergeThreshold: thresholdSchema,
  mergeCoolingHours: hours,
  maxMergesPerScan: z.number().int().min(0).max(1000),
  taxReservePct: pctSchema,
  minReinvestment: thresholdSchema,
  reinvestmentStrategy: z.enum(STRATEGY_NAMES),
  /** Weekly target returns on balance less buffer (projections and the demo market only). */
  weeklyReturns: z.object({ gen: pctSchema, rev: pctSchema, com: pctSchema }).strict(),
  /** The portfolio's calendar: "today" for the forks-per-day limit. */
  timezone: timeZoneSchema,
  /** Which operations wait for an operator's approval before anything moves (docs/domain.md section 8). */
  approvals: z.object({ fork: z.boolean(), merge: z.boolean(), reinvestment: z.boolean() }).strict(),
  /** An approval not decided within this many hours ends the operation `expired`. */
  approvalTimeoutHours: z.number().int().min(1).max(24 * 90),
  /** An open task reminds its operator every this many hours. */
  reminderHours: z.number().int().min(1).max(24 * 30),
  /** `paper`: the simulated broker moves the money; `manual`: every broker step is a task for a person. */
  broker: z.enum(['paper', 'manual']),
};

export const settingsSchema = z.object(settingsShape).strict();
export type PortfolioSettings = z.infer<typeof settingsSchema>;
export const settingsOverridesSchema = z
  .object({ ...settingsShape, approvals: settingsShape.approvals.partial() })
  .partial()
  .strict();
export type SettingsOverrides = z.infer<typeof settingsOverridesSchema>;

export function defaultSettings(template: TemplateName = 'moderate'): PortfolioSettings {
  return {
    bufferPct: TEMPLATES[template].bufferPct,
    forkThreshold: '50000.00',
    forkCoolingHours: 24,
    maxForksPerDay: 5,
    minAccountAgeDays: 0,
    parentRetainPct: '0',
    childGenPct: '0.5',
    mergeThreshold: '500000.00',
    mergeCoolingHours: 24,
    maxMergesPerScan: 10,
    taxReservePct: '0',
    minReinvestment: '1000.00',
    reinvestmentStrategy: 'standard',
    weeklyReturns: { gen: '0.015', rev: '0.01', com: '0.005' },
    timezone: 'UTC',
    approvals: { fork: false, merge: false, reinvestment: false },
    approvalTimeoutHours: 72,
    reminderHours: 24,
    broker: 'paper',
  };
}

/** Settings as stored by an older version get the current defaults for fields they lack. */
export function withDefaults(stored: Partial<PortfolioSettings>, template: TemplateName = 'moderate'): PortfolioSettings {
  return resolveSettings(defaultSettings(template), stored);
}

/** Applies overrides to a base and re-validates the whole. */
export function resolveSettings(base: PortfolioSettings, overrides: SettingsOverrides = {}): PortfolioSettings {
  // `approvals` merges key by key: `{ approvals: { fork: true } }` leaves merge and reinvestment as they were.
  return Object.freeze(settingsSchema.parse({ ...base, ...overrides, approvals: { ...base.approvals, ...overrides.approvals } }));
}
