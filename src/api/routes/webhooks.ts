import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { EVENT_TYPES } from '../../notify/events';
import { WebhookUrlRefused } from '../../services/webhooks';
import type { AppDeps } from '../app';
import { HttpProblem } from '../errors';
import { defineRoute } from '../route';
import { Problem, idParams } from '../schemas';

const uuid = z.uuid({ error: 'must be a UUID' });

export const CreateWebhookBody = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http or https URL' })
      .max(2000)
      .openapi({ example: 'https://hooks.example.com/alluse' }),
    events: z
      .array(z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` }))
      .min(1, 'subscribe to at least one event type')
      .max(EVENT_TYPES.length * 2),
    portfolioId: uuid.nullable().optional().openapi({ description: 'Only this portfolio\'s events; omitted: every portfolio\'s' }),
  })
  .strict()
  .openapi('CreateWebhook');

export const Webhook = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(EVENT_TYPES)),
    portfolioId: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi('Webhook');

export const CreatedWebhook = Webhook.extend({
  secret: z.string().openapi({ description: 'The signing secret (whsec_...), shown only in this response' }),
}).openapi('CreatedWebhook');

export const WebhookDelivery = z
  .object({
    id: z.string(),
    eventId: z.string(),
    type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().optional(),
    lastError: z.string().optional(),
    createdAt: z.string(),
    deliveredAt: z.string().optional(),
    nextAttemptAt: z.string().optional(),
  })
  .openapi('WebhookDelivery');

const deliveryParams = z.object({
  id: uuid.openapi({ param: { name: 'id', in: 'path' } }),
  deliveryId: uuid.openapi({ param: { name: 'deliveryId', in: 'path' } }),
});

const DeliveriesQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export function webhookRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/webhooks', operationId: 'createWebhook', tag: 'Webhooks', role: 'admin', summary: 'Subscribe a URL to events (the signing secret is shown once)',
    body: CreateWebhookBody,
    responses: {
      201: { description: 'Created', schema: CreatedWebhook },
      422: { description: 'The URL is refused (its host resolves to a private, loopback or other non-public address, or does not resolve)', schema: Problem },
    },
    handler: async ({ body, principal }) => {
      try {
        return { status: 201, body: await deps.webhooks.create(body, principal.actor) };
      } catch (err) {
        if (err instanceof WebhookUrlRefused) throw new HttpProblem(422, 'Unprocessable Content', err.message, { code: 'WebhookUrlRefused' });
        throw err;
      }
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/webhooks', operationId: 'listWebhooks', tag: 'Webhooks', role: 'admin', summary: 'The webhooks (without their secrets)',
    responses: { 200: { description: 'Webhooks', schema: z.object({ items: z.array(Webhook) }) } },
    handler: async () => ({ status: 200, body: { items: await deps.webhooks.list() } }),
  });

  defineRoute(router, registry, {
    method: 'delete', path: '/v1/webhooks/:id', operationId: 'deleteWebhook', tag: 'Webhooks', role: 'admin', summary: 'Delete a webhook (its pending deliveries stop)',
    params: idParams,
    responses: { 204: { description: 'Deleted' } },
    handler: async ({ params, principal }) => {
      await deps.webhooks.remove(params.id, principal.actor);
      return { status: 204 };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/webhooks/:id/deliveries', operationId: 'listWebhookDeliveries', tag: 'Webhooks', role: 'admin', summary: 'A webhook\'s deliveries, newest first',
    params: idParams,
    query: DeliveriesQuery,
    responses: { 200: { description: 'Deliveries', schema: z.object({ items: z.array(WebhookDelivery) }) } },
    handler: async ({ params, query }) => ({ status: 200, body: { items: await deps.webhooks.deliveries(params.id, query.limit) } }),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/webhooks/:id/deliveries/:deliveryId/redeliver', operationId: 'redeliverWebhookDelivery', tag: 'Webhooks', role: 'admin',
    summary: 'Deliver again: the delivery becomes pending and due now (its attempts are kept)',
    params: deliveryParams,
    responses: { 202: { description: 'Queued', schema: WebhookDelivery } },
    handler: async ({ params, principal }) => ({
      status: 202, body: await deps.webhooks.redeliver(params.id, params.deliveryId, principal.actor),
    }),
  });
}
