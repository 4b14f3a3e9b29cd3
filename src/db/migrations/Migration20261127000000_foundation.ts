import { Migration } from '@mikro-orm/migrations';

/**
 * The foundation schema. Invariants that must hold whatever code runs are
 * enforced here, not only in the services: balanced journal entries (a
 * deferred constraint trigger), non-negative buckets, unique idempotency keys,
 * and append-only journal, postings and audit log.
 */
export class Migration20261127000000_foundation extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table portfolios (
  id uuid primary key,
  name varchar(200) not null,
  owner varchar(200) not null,
  base_currency char(3) not null default 'USD',
  template varchar(20) not null check (template in ('moderate','conservative','aggressive')),
  settings jsonb not null,
  initial_capital numeric(20,2) not null check (initial_capital > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  version int not null default 1
);

create table units (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  parent_unit_id uuid references units(id),
  forked_from_account_id uuid,
  kind varchar(10) not null check (kind in ('root','forked')),
  status varchar(20) not null default 'active' check (status in ('active','merging','merged','closed')),
  created_at timestamptz not null default now(),
  check ((kind = 'root') = (parent_unit_id is null))
);
create index units_portfolio_idx on units(portfolio_id);
create index units_parent_idx on units(parent_unit_id);
create unique index units_one_root on units(portfolio_id) where kind = 'root';

create table accounts (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  unit_id uuid references units(id),
  type varchar(10) not null check (type in ('gen','rev','com','external','holding')),
  status varchar(20) not null default 'active'
    check (status in ('active','forking','merging','merged','closed','suspended')),
  base_balance numeric(20,2) not null default 0 check (base_balance >= 0),
  cash numeric(20,2) not null default 0,
  contracts numeric(20,2) not null default 0,
  leaps numeric(20,2) not null default 0,
  reserve numeric(20,2) not null default 0,
  balance numeric(20,2) generated always as (cash + contracts + leaps + reserve) stored,
  version int not null default 1,
  parent_account_id uuid references accounts(id),
  last_fork_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint accounts_buckets_non_negative
    check (type = 'external' or (cash >= 0 and contracts >= 0 and leaps >= 0 and reserve >= 0)),
  constraint accounts_unit_required check ((unit_id is null) = (type in ('external','holding'))),
  constraint accounts_one_per_type_in_unit unique (unit_id, type)
);
create unique index accounts_one_system_account on accounts(portfolio_id, type) where type in ('external','holding');
create index accounts_portfolio_idx on accounts(portfolio_id);
create index accounts_active_gen_idx on accounts(portfolio_id, (balance - base_balance)) where type = 'gen' and status = 'active';
alter table units add constraint units_forked_from_fk foreign key (forked_from_account_id) references accounts(id);

create table journal_entries (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  idempotency_key varchar(300) not null,
  kind varchar(40) not null,
  actor varchar(200) not null,
  operation_id varchar(300),
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  reference varchar(200),
  note varchar(1000),
  constraint journal_entries_idempotency_key_unique unique (idempotency_key)
);
create index journal_entries_operation_idx on journal_entries(operation_id) where operation_id is not null;
create index journal_entries_portfolio_idx on journal_entries(portfolio_id);

create table postings (
  id bigserial primary key,
  entry_id uuid not null references journal_entries(id),
  account_id uuid not null references accounts(id),
  bucket varchar(10) not null check (bucket in ('cash','contracts','leaps','reserve')),
  amount numeric(20,2) not null check (amount <> 0)
);
create index postings_account_idx on postings(account_id, id desc);
create index postings_entry_idx on postings(entry_id);

create function postings_entry_balanced() returns trigger language plpgsql as $$
declare total numeric;
begin
  select coalesce(sum(amount), 0) into total from postings where entry_id = new.entry_id;
  if total <> 0 then
    raise exception 'journal entry % is unbalanced by %', new.entry_id, total using errcode = '23514';
  end if;
  return null;
end $$;
create constraint trigger postings_balanced after insert on postings
  deferrable initially deferred for each row execute function postings_entry_balanced();

create function forbid_change() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only', tg_table_name using errcode = '42501';
end $$;
create trigger journal_entries_append_only before update or delete on journal_entries
  for each row execute function forbid_change();
create trigger postings_append_only before update or delete on postings
  for each row execute function forbid_change();

create table idempotent_requests (
  scope varchar(400) primary key,
  request_hash char(64) not null,
  status_code int not null,
  response jsonb not null,
  created_at timestamptz not null default now()
);

create table forking_events (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  parent_account_id uuid not null references accounts(id),
  parent_unit_id uuid not null references units(id),
  seq int not null,
  new_unit_id uuid references units(id),
  new_gen_account_id uuid references accounts(id),
  new_com_account_id uuid references accounts(id),
  surplus numeric(20,2) not null,
  retained numeric(20,2) not null,
  fork_amount numeric(20,2) not null,
  child_gen numeric(20,2) not null,
  child_com numeric(20,2) not null,
  threshold numeric(20,2) not null,
  trigger varchar(10) not null check (trigger in ('scan','manual')),
  actor varchar(200) not null,
  workflow_id varchar(300) not null unique,
  status varchar(20) not null check (status in ('started','completed','compensated','failed')),
  reason text,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  unique (parent_account_id, seq)
);
create index forking_events_portfolio_idx on forking_events(portfolio_id, started_at);

create table merging_events (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  unit_id uuid not null references units(id),
  target_account_id uuid not null references accounts(id),
  sources jsonb not null,
  total numeric(20,2) not null,
  reason text,
  trigger varchar(10) not null check (trigger in ('scan','manual')),
  actor varchar(200) not null,
  workflow_id varchar(300) not null unique,
  status varchar(20) not null check (status in ('started','completed','compensated','failed')),
  error text,
  started_at timestamptz not null default now(),
  completed_at timestamptz
);
create index merging_events_portfolio_idx on merging_events(portfolio_id, started_at);

create table reinvestment_events (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  account_id uuid not null references accounts(id),
  quarter varchar(6) not null check (quarter ~ '^[0-9]{4}Q[1-4]$'),
  reinvestable numeric(20,2) not null,
  reserve numeric(20,2) not null,
  contracts numeric(20,2) not null,
  leaps numeric(20,2) not null,
  strategy varchar(20) not null,
  regime varchar(30),
  market_inputs jsonb,
  actor varchar(200) not null,
  workflow_id varchar(300) not null unique,
  status varchar(20) not null check (status in ('started','completed','compensated','failed','skipped')),
  reason text,
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  unique (account_id, quarter)
);
create index reinvestment_events_portfolio_idx on reinvestment_events(portfolio_id, started_at);

create table audit_log (
  id bigserial primary key,
  chain varchar(64) not null,
  seq bigint not null,
  at timestamptz not null,
  actor varchar(200) not null,
  action varchar(100) not null,
  target_type varchar(50),
  target_id varchar(300),
  portfolio_id uuid,
  details jsonb not null,
  prev_hash char(64) not null,
  hash char(64) not null,
  unique (chain, seq)
);
create index audit_log_portfolio_idx on audit_log(portfolio_id, id desc);
create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function forbid_change();

create table api_keys (
  id uuid primary key,
  name varchar(100) not null,
  role varchar(10) not null check (role in ('viewer','operator','admin')),
  key_hash char(64) not null unique,
  key_prefix varchar(16) not null,
  created_by varchar(200) not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists api_keys, audit_log, reinvestment_events, merging_events, forking_events,
  idempotent_requests, postings, journal_entries cascade;
alter table if exists units drop constraint if exists units_forked_from_fk;
drop table if exists accounts, units, portfolios cascade;
drop function if exists postings_entry_balanced, forbid_change;
`);
  }
}
