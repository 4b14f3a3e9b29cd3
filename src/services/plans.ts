import type { EntityManager } from '@mikro-orm/postgresql';
import { loadForkFacts, loadMergeFacts, loadReinvestFacts } from '../db/facts';
import { DomainError } from '../domain/errors';
import { decideFork } from '../domain/fork';
import { decideMerge } from '../domain/merge';
import { formatMoney } from '../domain/money';
import { chooseStrategy, reinvestEligibility, reinvestmentPlan } from '../domain/reinvest';
import type { StrategyName } from '../domain/settings';
import type { MarketDataProvider } from '../market/provider';

/**
 * What a fork, merge or reinvestment would do now, as the dry run shows it
 * and as an approval task shows it to the approver. Read-only: the workflow's
 * first step decides again, under locks, when it runs.
 */
export async function forkPlan(em: EntityManager, accountId: string, now: Date) {
  const loaded = (await loadForkFacts(em, [accountId], { now })).get(accountId);
  if (!loaded) throw new DomainError('AccountNotFound', 'account not found');
  const decision = decideFork(loaded.facts, loaded.settings, now);
  const { plan } = decision;
  const view = {
    eligible: decision.eligible, reasons: decision.reasons, surplus: formatMoney(decision.surplus),
    plan: { forkAmount: formatMoney(plan.forkAmount), retained: formatMoney(plan.retained), childGen: formatMoney(plan.childGen), childCom: formatMoney(plan.childCom) },
  };
  return { loaded, decision, view };
}

export async function mergePlan(em: EntityManager, unitId: string, now: Date) {
  const loaded = await loadMergeFacts(em, unitId, { now });
  const decision = decideMerge(
    { candidate: loaded.candidate, lastMergeAt: loaded.lastMergeAt, sources: loaded.accounts.map((a) => ({ accountId: a.id, buckets: a.buckets })) },
    loaded.settings, now,
  );
  const typeOf = new Map(loaded.accounts.map((a) => [a.id, a.type]));
  const view = {
    eligible: decision.eligible, reasons: decision.reasons, total: formatMoney(decision.plan.total),
    plan: {
      sources: decision.plan.sources.map((s) => ({
        accountId: s.accountId, type: typeOf.get(s.accountId), amount: formatMoney(s.amount),
        closePositions: formatMoney(s.closePositions), reserve: formatMoney(s.reserve),
      })),
    },
  };
  return { loaded, decision, view };
}

export async function reinvestPlan(em: EntityManager, market: MarketDataProvider, accountId: string, quarter: string, strategy?: StrategyName) {
  const { account, settings } = await loadReinvestFacts(em, accountId);
  const reasons = reinvestEligibility(account);
  const requested = strategy ?? settings.reinvestmentStrategy;
  const choice = chooseStrategy(requested, requested === 'dynamic' ? await market.inputsForQuarter(quarter) : null);
  const plan = reinvestmentPlan(account.buckets, settings, choice.strategy);
  const view = {
    eligible: reasons.length === 0 && !plan.skipped, reasons: plan.reason ? [...reasons, plan.reason] : reasons, quarter,
    plan: {
      strategy: choice.strategy, regime: choice.regime ?? undefined, reinvestable: formatMoney(plan.reinvestable), reserve: formatMoney(plan.reserve),
      contracts: formatMoney(plan.contracts), leaps: formatMoney(plan.leaps), skipped: plan.skipped,
    },
  };
  return { account, settings, reasons, view };
}
