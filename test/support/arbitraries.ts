import fc from 'fast-check';
import { Dec } from '../../src/domain/money';

/** Any amount from 0.01 to 10^13, in cents. */
export const centsArb = fc.bigInt({ min: 1n, max: 10n ** 15n }).map((c) => new Dec(c.toString()).div(100));
