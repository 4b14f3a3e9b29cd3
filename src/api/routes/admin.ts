import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { AuditItems, AuditQuery, CreateApiKeyBody, CreatedApiKey, idParams } from '../schemas';

export function adminRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/audit', operationId: 'listAuditLog', tag: 'Admin', role: 'admin', summary: 'The append-only, hash-chained audit log (newest first)',
    query: AuditQuery,
    responses: { 200: { description: 'Audit rows', schema: AuditItems } },
    handler: async ({ query }) => ({ status: 200, body: { items: await deps.audit.list(query.portfolioId, query.limit) } }),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/api-keys', operationId: 'createApiKey', tag: 'Admin', role: 'admin', summary: 'Create an API key (shown once)',
    body: CreateApiKeyBody,
    responses: { 201: { description: 'Created', schema: CreatedApiKey } },
    handler: async ({ body, principal }) => ({ status: 201, body: await deps.apiKeys.create(body.name, body.role, principal.actor) }),
  });

  defineRoute(router, registry, {
    method: 'delete', path: '/v1/api-keys/:id', operationId: 'revokeApiKey', tag: 'Admin', role: 'admin', summary: 'Revoke an API key',
    params: idParams,
    responses: { 204: { description: 'Revoked' } },
    handler: async ({ params, principal }) => {
      await deps.apiKeys.revoke(params.id, principal.actor);
      return { status: 204 };
    },
  });
}
