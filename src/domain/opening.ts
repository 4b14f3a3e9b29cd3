import type Decimal from 'decimal.js';
import { cents } from './money';
import { TEMPLATES, type TemplateName } from './settings';

export interface OpeningSplit {
  gen: Decimal;
  rev: Decimal;
  com: Decimal;
}

/** Splits the initial capital by template; Com-Acc takes the remainder so the legs sum to the whole. */
export function openingSplit(capital: Decimal, template: TemplateName): OpeningSplit {
  const t = TEMPLATES[template];
  const gen = cents(capital.mul(t.gen));
  const rev = cents(capital.mul(t.rev));
  return { gen, rev, com: capital.minus(gen).minus(rev) };
}
