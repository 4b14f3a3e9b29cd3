import type { MikroORM } from '@mikro-orm/postgresql';
import { v7 as uuidv7 } from 'uuid';
import { appendAudit } from '../audit/audit';
import { pgIso } from '../db/sql';
import { DomainError } from '../domain/errors';
import { EVENT_TYPES, type EventType } from '../notify/events';
import { newWebhookSecret } from '../notify/signature';
import { type AllowList, type LookupAll, checkWebhookUrl, parseAllowList, systemLookupAll } from '../notify/ssrf';

export interface Webhook {
  id: string;
  url: string;
  events: EventType[];
  /** Null: every portfolio's events. */
  portfolioId: string | null;
  createdAt: string;
  createdBy: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: string;
  eventId: string;
  type: string;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode?: number;
  lastError?: string;
  createdAt: string;
  deliveredAt?: string;
  /** While pending: when the next attempt is due. */
  nextAttemptAt?: string;
}

/** The webhook URL is refused (private or loopback address, a host that does not resolve): a 422. */
export class WebhookUrlRefused extends Error {
  constructor(readonly reason: string) {
    super(`the webhook URL is refused: ${reason}`);
    this.name = 'WebhookUrlRefused';
  }
}

interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  portfolio_id: string | null;
  created_at: string;
  created_by: string;
}

interface DeliveryRow {
  id: string;
  event_id: string;
  type: string;
  status: DeliveryStatus;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  next_attempt_at: string;
}

const toWebhook = (r: WebhookRow): Webhook => ({
  id: r.id, url: r.url, events: r.events as EventType[], portfolioId: r.portfolio_id, createdAt: pgIso(r.created_at), createdBy: r.created_by,
});

const toDelivery = (r: DeliveryRow): WebhookDelivery => ({
  id: r.id,
  eventId: r.event_id,
  type: r.type,
  status: r.status,
  attempts: Number(r.attempts),
  ...(r.last_status_code !== null && { lastStatusCode: Number(r.last_status_code) }),
  ...(r.last_error !== null && { lastError: r.last_error }),
  createdAt: pgIso(r.created_at),
  ...(r.delivered_at !== null && { deliveredAt: pgIso(r.delivered_at) }),
  ...(r.status === 'pending' && { nextAttemptAt: pgIso(r.next_attempt_at) }),
});

const DELIVERY_COLUMNS = `d.id, d.event_id, e.type, d.status, d.attempts, d.last_status_code, d.last_error, d.created_at, d.delivered_at, d.next_attempt_at`;

/**
 * Webhook subscriptions (admin). Events reach them through the outbox
 * (src/notify/events.ts) and the dispatcher (src/notify/dispatcher.ts).
 */
export class WebhookService {
  private readonly allow: AllowList;
  private readonly lookupAll: LookupAll;

  constructor(
    private readonly orm: MikroORM,
    opts: { allowedHosts?: readonly string[]; lookupAll?: LookupAll } = {},
  ) {
    this.allow = parseAllowList(opts.allowedHosts ?? []);
    this.lookupAll = opts.lookupAll ?? systemLookupAll;
  }

  async create(
    input: { url: string; events: readonly string[]; portfolioId?: string | null },
    actor: string,
  ): Promise<Webhook & { secret: string }> {
    const unknown = input.events.filter((e) => !(EVENT_TYPES as readonly string[]).includes(e));
    if (unknown.length) throw new DomainError('ValidationError', `unknown event type ${unknown.join(', ')}`, { path: 'events' });
    const events = [...new Set(input.events)] as EventType[];
    if (events.length === 0) throw new DomainError('ValidationError', 'subscribe to at least one event type', { path: 'events' });
    const check = await checkWebhookUrl(input.url, this.allow, this.lookupAll);
    if (!check.ok) {
      if (check.kind === 'invalid') throw new DomainError('ValidationError', check.reason, { path: 'url' });
      throw new WebhookUrlRefused(check.reason);
    }
    const id = uuidv7();
    const secret = newWebhookSecret();
    const portfolioId = input.portfolioId ?? null;
    const url = check.url.toString();
    const row = await this.orm.em.fork().transactional(async (em) => {
      if (portfolioId) {
        const [p] = await em.execute('select 1 from portfolios where id = ?', [portfolioId]);
        if (!p) throw new DomainError('NotFound', 'portfolio not found');
      }
      const [r] = await em.execute<WebhookRow[]>(
        `insert into webhooks (id, url, events, portfolio_id, secret, created_by) values (?, ?, ?::text[], ?, ?, ?)
         returning id, url, events, portfolio_id, created_at, created_by`,
        [id, url, `{${events.join(',')}}`, portfolioId, secret, actor],
      );
      // The secret never enters the audit log.
      await appendAudit(em, {
        actor, action: 'webhook.created', targetType: 'webhook', targetId: id, portfolioId: portfolioId ?? undefined, details: { url, events },
      });
      return r!;
    });
    return { ...toWebhook(row), secret };
  }

  async list(): Promise<Webhook[]> {
    const rows = await this.orm.em.fork().execute<WebhookRow[]>(
      'select id, url, events, portfolio_id, created_at, created_by from webhooks where deleted_at is null order by created_at desc, id desc',
    );
    return rows.map(toWebhook);
  }

  /** Soft delete: the subscription stops at once and its pending deliveries are marked failed. */
  async remove(id: string, actor: string): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      const rows = await em.execute<{ id: string; portfolio_id: string | null }[]>(
        'update webhooks set deleted_at = now() where id = ? and deleted_at is null returning id, portfolio_id', [id],
      );
      const row = rows[0];
      if (!row) throw new DomainError('NotFound', 'webhook not found');
      const stopped = await em.execute<{ id: string }[]>(
        `update webhook_deliveries set status = 'failed', last_error = 'webhook deleted' where webhook_id = ? and status = 'pending' returning id`,
        [id],
      );
      await appendAudit(em, {
        actor, action: 'webhook.deleted', targetType: 'webhook', targetId: id, portfolioId: row.portfolio_id ?? undefined,
        details: { pendingDeliveriesStopped: stopped.length },
      });
    });
  }

  async deliveries(webhookId: string, limit = 100): Promise<WebhookDelivery[]> {
    const em = this.orm.em.fork();
    await this.requireWebhook(em, webhookId);
    const rows = await em.execute<DeliveryRow[]>(
      `select ${DELIVERY_COLUMNS} from webhook_deliveries d join events e on e.id = d.event_id
        where d.webhook_id = ? order by d.created_at desc, d.event_id desc limit ?`,
      [webhookId, limit],
    );
    return rows.map(toDelivery);
  }

  /** Makes a delivery pending and due now (its attempts are kept). */
  async redeliver(webhookId: string, deliveryId: string, actor: string): Promise<WebhookDelivery> {
    return this.orm.em.fork().transactional(async (em) => {
      const portfolioId = await this.requireWebhook(em, webhookId);
      const [row] = await em.execute<DeliveryRow[]>(
        `update webhook_deliveries d set status = 'pending', next_attempt_at = now(), delivered_at = null
           from events e where e.id = d.event_id and d.id = ? and d.webhook_id = ?
         returning ${DELIVERY_COLUMNS}`,
        [deliveryId, webhookId],
      );
      if (!row) throw new DomainError('NotFound', 'delivery not found');
      await appendAudit(em, {
        actor, action: 'webhook.redelivered', targetType: 'webhook_delivery', targetId: deliveryId, portfolioId: portfolioId ?? undefined,
        details: { webhookId, eventId: row.event_id },
      });
      return toDelivery(row);
    });
  }

  private async requireWebhook(em: ReturnType<MikroORM['em']['fork']>, id: string): Promise<string | null> {
    const [row] = await em.execute<{ portfolio_id: string | null }[]>(
      'select portfolio_id from webhooks where id = ? and deleted_at is null', [id],
    );
    if (!row) throw new DomainError('NotFound', 'webhook not found');
    return row.portfolio_id;
  }
}
