import type { EntityManager } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';

/** Every event a webhook can subscribe to. */
export const EVENT_TYPES = [
  'operation.started', 'operation.waiting', 'operation.completed', 'operation.compensated', 'operation.failed',
  'operation.expired', 'operation.cancelled', 'task.created', 'task.due', 'integrity.failed', 'import.completed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NewEvent {
  type: EventType;
  portfolioId?: string | null;
  /** The same key emits once: retried steps and replays never duplicate an event. */
  dedupeKey: string;
  data: Record<string, unknown>;
}

/**
 * Writes an event to the outbox, in the caller's transaction, with one
 * pending delivery per webhook subscribed to it (all portfolios, or this
 * one). The dispatcher delivers them; nothing is lost if a process dies,
 * because the event commits with what it reports. Returns the event id, or
 * null when the dedupe key was emitted before.
 */
export async function emitEvent(em: EntityManager, ev: NewEvent): Promise<string | null> {
  const id = uuidv7();
  const inserted = await em.execute<{ id: string }[]>(
    `insert into events (id, type, portfolio_id, dedupe_key, data) values (?, ?, ?, ?, ?)
     on conflict (dedupe_key) do nothing returning id`,
    [id, ev.type, ev.portfolioId ?? null, ev.dedupeKey.slice(0, 300), JSON.stringify(ev.data)],
  );
  if (inserted.length === 0) return null;
  await em.execute(
    `insert into webhook_deliveries (id, webhook_id, event_id)
     select gen_random_uuid(), w.id, ? from webhooks w
      where w.deleted_at is null and ? = any (w.events) and (w.portfolio_id is null or w.portfolio_id = ?)`,
    [id, ev.type, ev.portfolioId ?? null],
  );
  return id;
}
