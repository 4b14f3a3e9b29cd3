import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { ACTIVITY_TYPES } from '../../domain/buckets';
import { money } from '../../domain/money';
import type { AppDeps } from '../app';
import { HttpProblem } from '../errors';
import { defineRoute } from '../route';
import { positiveMoney } from '../schemas';

/** Items per batch: a batch of 10,000 activities is about 2 MiB of JSON, under the 5 MiB body limit. */
export const MAX_BATCH_ITEMS = 10_000;

const BatchItemBody = z
  .object({
    accountId: z.uuid().transform((id) => id.toLowerCase()),
    type: z.enum(ACTIVITY_TYPES),
    amount: positiveMoney,
    idempotencyKey: z.string().regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable ASCII characters without spaces').openapi({
      description: "The item's Idempotency-Key: the same key on the same account as a single activity request means the same posting.",
    }),
    occurredAt: z.iso.datetime({ offset: true }).optional(),
    reference: z.string().max(200).optional(),
    note: z.string().max(1000).optional(),
  })
  .strict();

const BatchBody = z
  .object({
    atomic: z.boolean().default(false).openapi({ description: 'true: every item posts or none does (a refused item refuses the batch with 422)' }),
    items: z.array(BatchItemBody).min(1).max(MAX_BATCH_ITEMS),
  })
  .strict()
  .openapi('ActivityBatch');

const BatchItemResult = z.object({
  idempotencyKey: z.string(),
  accountId: z.string(),
  status: z.enum(['posted', 'duplicate', 'rejected', 'not_posted']).openapi({
    description: 'posted; duplicate (the key was used before with the same body: nothing new, `entryId` is the earlier entry); rejected (see `error`); not_posted (an atomic batch was refused because of another item)',
  }),
  entryId: z.string().optional(),
  error: z.object({ type: z.string(), detail: z.string() }).optional(),
});
const BatchResult = z
  .object({ posted: z.number().int(), duplicates: z.number().int(), rejected: z.number().int(), results: z.array(BatchItemResult) })
  .openapi('ActivityBatchResult');

export function batchRoutes(router: Router, registry: OpenAPIRegistry, deps: AppDeps): void {
  defineRoute(router, registry, {
    method: 'post', path: '/v1/activity/batch', operationId: 'recordActivityBatch', tag: 'Accounts', role: 'operator',
    summary: `Record up to ${MAX_BATCH_ITEMS.toLocaleString('en-US')} activities at once (per-item idempotency keys and results)`,
    body: BatchBody,
    responses: {
      200: { description: 'One result per item, in order', schema: BatchResult },
      413: { description: 'The body is larger than 5 MiB' },
      422: { description: 'An atomic batch with a refused item: nothing was posted (the problem document carries `results`)' },
    },
    handler: async ({ body, principal }) => {
      const items = body.items.map((i) => ({ ...i, amount: money(i.amount), occurredAt: i.occurredAt ? new Date(i.occurredAt) : undefined }));
      const r = await deps.batch.post(items, { atomic: body.atomic }, principal.actor);
      if (!r.committed) {
        const first = r.results.findIndex((x) => x.status === 'rejected');
        throw new HttpProblem(422, 'Unprocessable Content',
          `nothing was posted: item ${first} (${r.results[first]!.idempotencyKey}) was refused: ${r.results[first]!.error!.detail}`,
          { results: r.results, rejected: r.rejected });
      }
      return { status: 200, body: { posted: r.posted, duplicates: r.duplicates, rejected: r.rejected, results: r.results } };
    },
  });
}
