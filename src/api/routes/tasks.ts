import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { idParams } from '../schemas';

export const Task = z
  .object({
    id: z.string(), operationId: z.string(), portfolioId: z.string(), kind: z.enum(['approval', 'broker']), operationType: z.string(),
    title: z.string(), instructions: z.string(), plan: z.record(z.string(), z.unknown()).optional(), amount: z.string().optional(),
    fromAccountId: z.string().optional(), toAccountId: z.string().optional(), status: z.enum(['open', 'done', 'expired', 'cancelled']),
    decision: z.enum(['approve', 'reject', 'done', 'failed']).optional(), brokerReference: z.string().optional(), note: z.string().optional(),
    reminders: z.number().int(), createdAt: z.string(), dueAt: z.string(), decidedAt: z.string().optional(), decidedBy: z.string().optional(),
  })
  .openapi('Task');

const printable = (max: number) => z.string().trim().min(1).max(max).regex(/^[^\p{Cc}]*$/u, 'must be printable text');

export function taskRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/tasks', operationId: 'listTasks', tag: 'Tasks', role: 'viewer', summary: 'Tasks for people: approvals and manual broker steps',
    query: z.object({
      portfolioId: z.uuid().optional(), status: z.enum(['open', 'done', 'expired', 'cancelled']).optional(),
      kind: z.enum(['approval', 'broker']).optional(), limit: z.coerce.number().int().min(1).max(500).default(200),
    }).strict(),
    responses: { 200: { description: 'Tasks, newest first', schema: z.object({ items: z.array(Task) }) } },
    handler: async ({ query }) => ({ status: 200, body: { items: await deps.tasks.list(query) } }),
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/tasks/:id', operationId: 'getTask', tag: 'Tasks', role: 'viewer', summary: 'One task',
    params: idParams,
    responses: { 200: { description: 'Task', schema: Task } },
    handler: async ({ params }) => ({ status: 200, body: await deps.tasks.get(params.id) }),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/tasks/:id/decide', operationId: 'decideTask', tag: 'Tasks', role: 'operator',
    summary: 'Decide a task: approve or reject an approval; report a broker step done (with the reference) or failed',
    params: idParams,
    body: z.object({
      decision: z.enum(['approve', 'reject', 'done', 'failed']), brokerReference: printable(200).optional(), note: printable(2000).optional(),
    }).strict(),
    responses: {
      200: { description: 'The decided task', schema: Task },
      409: { description: 'The task is no longer open (nothing changed)' },
      422: { description: 'The decision does not fit the task kind' },
    },
    handler: async ({ params, body, principal }) => ({ status: 200, body: await deps.tasks.decide(params.id, body, principal.actor) }),
  });
}
