import { Migration } from '@mikro-orm/migrations';

/**
 * Operators in the loop (docs/domain.md section 8) and notifications: tasks a
 * person decides (approvals, manual broker steps), the event outbox, webhook
 * subscriptions and their deliveries.
 */
export class Migration20261129000000_operators extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table tasks (
  id uuid primary key,
  -- The workflow (operation) and run that wait on the task, and the step it belongs to: one task per (run, task_key).
  -- A new run of the same operation id (after a rejection or a compensation) opens its own tasks.
  operation_id varchar(200) not null,
  run_id varchar(100) not null,
  task_key varchar(200) not null,
  portfolio_id uuid not null references portfolios(id),
  kind varchar(20) not null check (kind in ('approval', 'broker')),
  operation_type varchar(20) not null,
  title varchar(300) not null,
  instructions text not null,
  plan jsonb,
  amount numeric(20,2),
  from_account_id uuid references accounts(id),
  to_account_id uuid references accounts(id),
  status varchar(20) not null default 'open' check (status in ('open', 'done', 'expired', 'cancelled')),
  decision varchar(20) check (decision in ('approve', 'reject', 'done', 'failed')),
  broker_reference varchar(200),
  note varchar(2000),
  created_at timestamptz not null default now(),
  due_at timestamptz not null,
  reminded_at timestamptz,
  reminders int not null default 0,
  decided_at timestamptz,
  decided_by varchar(200),
  unique (run_id, task_key)
);
create index tasks_open on tasks (portfolio_id, status, created_at);
create index tasks_operation on tasks (operation_id);

-- The outbox: an event is written in the transaction of what it reports; one delivery row per matching webhook.
create table events (
  id uuid primary key,
  type varchar(50) not null,
  portfolio_id uuid,
  dedupe_key varchar(300) not null unique,
  data jsonb not null,
  created_at timestamptz not null default now()
);
create index events_portfolio on events (portfolio_id, created_at);

create table webhooks (
  id uuid primary key,
  url varchar(2000) not null,
  events text[] not null,
  portfolio_id uuid references portfolios(id),
  secret varchar(200) not null,
  created_by varchar(200) not null,
  created_at timestamptz not null default now(),
  deleted_at timestamptz
);

create table webhook_deliveries (
  id uuid primary key,
  webhook_id uuid not null references webhooks(id),
  event_id uuid not null references events(id),
  status varchar(20) not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts int not null default 0,
  last_status_code int,
  last_error varchar(500),
  next_attempt_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  unique (webhook_id, event_id)
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
`);
  }
}
