import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { ROLES } from '../../services/api-keys';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';

const CurrentKey = z
  .object({
    keyId: z.uuid(),
    name: z.string(),
    role: z.enum(ROLES),
    temporalUi: z
      .object({ url: z.url(), namespace: z.string() })
      .nullable()
      .openapi({ description: "The Temporal Web UI (base URL, no trailing slash) and the engine's namespace; null when the engine does not know the UI's address." }),
  })
  .openapi('CurrentKey');

export function sessionRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/me', operationId: 'getCurrentKey', tag: 'Session', role: 'viewer', summary: 'The API key of this request: its id, name and role',
    responses: { 200: { description: 'The caller\'s key (a missing, unknown or revoked key is a 401)', schema: CurrentKey } },
    handler: async ({ principal }) => ({
      status: 200,
      body: { keyId: principal.keyId, name: principal.name, role: principal.role, temporalUi: deps.temporalUi ?? null },
    }),
  });
}
