import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { STRATEGY_NAMES } from '../../domain/settings';
import type { OperationView } from '../../services/operations';
import type { ProtocolOutcome } from '../../services/protocols';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { idParams } from '../schemas';
import { Task } from './tasks';

const OperationType = z.enum(['fork', 'merge', 'reinvestment']);
const ListedType = z.enum(['fork', 'merge', 'reinvestment', 'scan', 'quarterly-reinvestment', 'import']);
const OperationStatus = z.enum(['running', 'waiting', 'completed', 'failed', 'compensated', 'cancelled', 'expired']);
const amount = z.string().openapi({ example: '25000.51' });
const ForkStartPlan = z
  .object({
    surplus: amount, forkAmount: amount, retained: amount, childGen: amount, childCom: amount,
    newUnitId: z.string(), newGenAccountId: z.string(), newComAccountId: z.string(),
  })
  .openapi('ForkStartPlan', { description: "A fork's plan as its first step fixed it under the portfolio lock, with the ids of the unit and accounts it creates." });
const MergeStartPlan = z
  .object({
    total: amount,
    sources: z.array(z.object({ accountId: z.string(), amount, closePositions: amount, reserve: amount.optional() })),
  })
  .openapi('MergeStartPlan', { description: "What each of the merging unit's accounts gives, as its first step fixed it with the unit held. The target is decided later, by the move." });
const ReinvestStartPlan = z
  .object({
    strategy: z.string(), regime: z.string().optional(), reinvestable: amount, reserve: amount, contracts: amount, leaps: amount,
    skipped: z.boolean(), reason: z.string().optional(),
  })
  .openapi('ReinvestStartPlan', { description: 'The amounts the allocation moved under the account\'s lock (with a manual broker: the amounts to buy), or why nothing moves (`skipped`).' });
const Started = z
  .object({
    operationId: z.string(), type: OperationType, status: z.literal('running'),
    plan: z.union([ForkStartPlan, MergeStartPlan, ReinvestStartPlan]).optional().openapi({
      description: 'The plan the run fixed, by `type`. Absent when the run did not answer within about 2 s (worker stopped or busy), '
        + 'waits for an approval first, or ended without a plan (its first step refused): the operation runs on either way; follow it at GET /v1/operations/{operationId}.',
    }),
  })
  .openapi('OperationStarted');
const Step = z.object({ name: z.string(), status: z.string(), at: z.string() });
const Operation = z
  .object({
    operationId: z.string(), type: ListedType, status: OperationStatus, startedAt: z.string(), closedAt: z.string().optional(),
    steps: z.array(Step), result: z.unknown().optional(), tasks: z.array(Task).optional(), error: z.object({ type: z.string(), message: z.string() }).optional(),
    temporalUiUrl: z.url().optional().openapi({
      description: "The operation's workflow in the Temporal Web UI (its latest run). Present when the engine knows the UI's address (TEMPORAL_UI_URL, or the dev server's UI under `npm start`).",
    }),
  })
  .openapi('Operation');
const DryRun = z.object({ eligible: z.boolean(), reasons: z.array(z.string()), plan: z.unknown() }).passthrough().openapi('DryRun');
const OperationIdParams = z.object({
  operationId: z.string().max(200).regex(/^(fork|merge|reinvest|scan|quarterly-reinvestment|import)-[0-9A-Za-z:.-]+$/, 'not an operation id'),
});
const reason = z.string().max(500).optional();

const startResponses = {
  200: { description: 'Dry run: eligibility and plan', schema: DryRun },
  202: { description: 'Started', schema: Started },
  409: { description: 'Already running (the problem carries its operationId)' },
  422: { description: 'Not eligible (the problem lists the reasons)' },
};

export function operationRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/accounts/:id/fork', operationId: 'forkAccount', tag: 'Operations', role: 'operator', summary: 'Fork a Gen-Acc (or dry-run the fork)',
    params: idParams, body: z.object({ reason, dryRun: z.boolean().optional() }).strict(),
    responses: startResponses,
    handler: async ({ params, body, principal }) => statusOf(await deps.protocols.fork(params.id, body, principal.actor)),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/units/:id/merge', operationId: 'mergeUnit', tag: 'Operations', role: 'operator', summary: "Merge a forked unit into its parent unit's Com-Acc",
    params: idParams, body: z.object({ reason, dryRun: z.boolean().optional() }).strict(),
    responses: startResponses,
    handler: async ({ params, body, principal }) => statusOf(await deps.protocols.merge(params.id, body, principal.actor)),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/accounts/:id/reinvest', operationId: 'reinvestAccount', tag: 'Operations', role: 'operator', summary: "Reinvest a Rev-Acc's or Com-Acc's cash for a quarter",
    params: idParams,
    body: z.object({ strategy: z.enum(STRATEGY_NAMES).optional(), quarter: z.string().regex(/^\d{4}Q[1-4]$/, 'must look like 2026Q3').optional(), dryRun: z.boolean().optional() }).strict(),
    responses: startResponses,
    handler: async ({ params, body, principal }) => statusOf(await deps.protocols.reinvest(params.id, body, principal.actor)),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/operations/:operationId', operationId: 'getOperation', tag: 'Operations', role: 'viewer', summary: 'An operation (workflow run) with its steps',
    params: OperationIdParams,
    responses: { 200: { description: 'Operation', schema: Operation } },
    handler: async ({ params }) => ({ status: 200, body: withUiLink(deps, await deps.operations.get(params.operationId)) }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/operations', operationId: 'listOperations', tag: 'Operations', role: 'viewer', summary: 'List operations',
    query: z.object({ portfolioId: z.uuid().optional(), type: z.enum(['fork', 'merge', 'reinvestment', 'scan', 'import']).optional(), status: OperationStatus.optional(), limit: z.coerce.number().int().min(1).max(100).default(50) }),
    responses: { 200: { description: 'Operations', schema: z.object({ items: z.array(Operation) }) } },
    handler: async ({ query }) => ({ status: 200, body: { items: (await deps.operations.list(query)).map((op) => withUiLink(deps, op)) } }),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/operations/:operationId/cancel', operationId: 'cancelOperation', tag: 'Operations', role: 'operator', summary: 'Cancel a running operation (it compensates)',
    params: OperationIdParams,
    responses: { 202: { description: 'Cancellation requested' }, 409: { description: 'Not running' } },
    handler: async ({ params, principal }) => {
      await deps.operations.cancel(params.operationId);
      deps.log.info('operation cancel requested', { operationId: params.operationId, actor: principal.actor });
      return { status: 202, body: { operationId: params.operationId, status: 'cancelling' } };
    },
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/scans', operationId: 'runScan', tag: 'Operations', role: 'operator', summary: 'Run the threshold scan now (forks and merges whose thresholds are met)',
    body: z.object({ portfolioId: z.uuid().optional(), kinds: z.array(z.enum(['fork', 'merge'])).min(1).max(2).optional() }).strict(),
    responses: { 202: { description: 'Scan started', schema: z.object({ operationId: z.string(), type: z.literal('scan'), status: z.literal('running') }) } },
    handler: async ({ body, principal }) => ({ status: 202, body: await deps.protocols.startScan(body, principal.actor) }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/schedules', operationId: 'listSchedules', tag: 'Schedules', role: 'viewer', summary: 'The Temporal Schedules the engine owns',
    responses: { 200: { description: 'Schedules', schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) } },
    handler: async () => ({ status: 200, body: { items: await deps.schedules.list() } }),
  });

  for (const action of ['pause', 'unpause', 'trigger'] as const) {
    defineRoute(router, registry, {
      method: 'post', path: `/v1/schedules/:scheduleId/${action}`, operationId: `${action}Schedule`, tag: 'Schedules', role: 'admin', summary: `${action[0]!.toUpperCase()}${action.slice(1)} an engine schedule`,
      params: z.object({ scheduleId: z.string().max(100) }),
      responses: { 202: { description: 'Done' } },
      handler: async ({ params, principal }) => {
        await deps.schedules.act(params.scheduleId, action, principal.actor);
        deps.log.info(`schedule ${action}`, { scheduleId: params.scheduleId, actor: principal.actor });
        return { status: 202, body: { scheduleId: params.scheduleId, action } };
      },
    });
  }

  defineRoute(router, registry, {
    method: 'get', path: '/v1/portfolios/:id/events', operationId: 'listPortfolioEvents', tag: 'Operations', role: 'viewer', summary: 'Fork, merge and reinvestment records',
    params: idParams, query: z.object({ type: OperationType.optional() }),
    responses: { 200: { description: 'Events', schema: z.object({ items: z.array(z.record(z.string(), z.unknown())) }) } },
    handler: async ({ params, query }) => ({ status: 200, body: { items: await deps.operations.events(params.id, query.type) } }),
  });
}

/**
 * The page of a workflow in the Temporal Web UI; without a run id the UI opens
 * the workflow's latest run. An operation's id is its workflow id
 * (OperationsService reads it with `getHandle(operationId)`).
 */
export const temporalUiLink = (ui: { url: string; namespace: string }, workflowId: string): string =>
  `${ui.url}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;

/** The operation with its `temporalUiUrl` when the engine knows where the Temporal Web UI is. */
function withUiLink(deps: AppDeps, view: OperationView): OperationView & { temporalUiUrl?: string } {
  return deps.temporalUi ? { ...view, temporalUiUrl: temporalUiLink(deps.temporalUi, view.operationId) } : view;
}

/** A dry run answers 200 with its verdict; a started operation 202. */
function statusOf(outcome: ProtocolOutcome): { status: number; body: unknown } {
  return { status: outcome.dryRun ? 200 : 202, body: outcome.result };
}
