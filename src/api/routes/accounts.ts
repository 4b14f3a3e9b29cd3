import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { money } from '../../domain/money';
import type { AppDeps } from '../app';
import { defineRoute } from '../route';
import { Account, UpdateAccountBody, ActivityBody, ActivityResult, Entries, EntriesQuery, IdempotencyHeaders, idParams } from '../schemas';

export function accountRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'get', path: '/v1/accounts/:id', operationId: 'getAccount', tag: 'Accounts', role: 'viewer', summary: 'An account with its buckets',
    params: idParams,
    responses: { 200: { description: 'Account', schema: Account } },
    handler: async ({ params }) => ({ status: 200, body: await deps.accounts.get(params.id) }),
  });

  defineRoute(router, registry, {
    method: 'patch', path: '/v1/accounts/:id', operationId: 'updateAccount', tag: 'Accounts', role: 'admin', summary: "Set an account's broker account id and label",
    params: idParams,
    body: UpdateAccountBody,
    responses: {
      200: { description: 'The account', schema: Account },
      409: { description: 'The broker account id is already mapped to another account of the portfolio' },
    },
    handler: async ({ params, body, principal }) => ({ status: 200, body: await deps.accounts.update(params.id, body, principal.actor) }),
  });

  defineRoute(router, registry, {
    method: 'post', path: '/v1/accounts/:id/activity', operationId: 'recordActivity', tag: 'Accounts', role: 'operator',
    summary: 'Record a trading activity (idempotent by the Idempotency-Key header)',
    params: idParams,
    headers: IdempotencyHeaders,
    body: ActivityBody,
    responses: {
      201: { description: 'Posted (or the stored first response for a repeated key)', schema: ActivityResult },
      409: { description: 'Same Idempotency-Key with a different body, or account not active' },
      422: { description: 'Refused by the rules (Com-Acc withdrawal, withdrawal into the buffer, debit above balance)' },
    },
    handler: async ({ params, headers, body, principal }) => {
      const r = await deps.accounts.recordActivity(
        params.id,
        { ...body, amount: money(body.amount), occurredAt: body.occurredAt ? new Date(body.occurredAt) : undefined },
        headers['idempotency-key'],
        principal.actor,
      );
      // A replay answers exactly as the first request did.
      return { status: 201, body: r.body, headers: { 'Idempotent-Replayed': String(r.replayed) } };
    },
  });

  defineRoute(router, registry, {
    method: 'get', path: '/v1/accounts/:id/entries', operationId: 'listAccountEntries', tag: 'Accounts', role: 'viewer',
    summary: 'Postings of an account, newest first (?format=csv: all of them, oldest first, with the running balance, streamed)',
    params: idParams,
    query: EntriesQuery,
    responses: {
      200: {
        description: 'A page of postings (application/json), or with format=csv every posting as text/csv, an attachment',
        schema: Entries,
        mediaTypes: ['application/json', 'text/csv'],
      },
    },
    handler: async ({ params, query }) => {
      if (query.format === 'csv') {
        return {
          status: 200,
          stream: await deps.exports.accountEntriesCsv(params.id),
          contentType: 'text/csv; charset=utf-8',
          headers: { 'Content-Disposition': `attachment; filename="account-${params.id}-entries.csv"` },
        };
      }
      return { status: 200, body: await deps.accounts.entries(params.id, query.limit, query.cursor) };
    },
  });
}
