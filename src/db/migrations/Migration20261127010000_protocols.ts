import { Migration } from '@mikro-orm/migrations';

/**
 * Protocol support: reversible entries (base-balance changes recorded on the
 * entry, compensation tombstones), event attempts and run ids, and the paper
 * broker's own tables.
 */
export class Migration20261127010000_protocols extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table journal_entries add column base_changes jsonb not null default '[]'::jsonb;
alter table journal_entries add column reverses_entry_id uuid references journal_entries(id);

-- An undo claims the forward step's key here, whether or not the step ran,
-- so a late forward attempt can never land after its compensation.
create table compensations (
  forward_key varchar(300) primary key,
  reversal_entry_id uuid references journal_entries(id),
  created_at timestamptz not null default now()
);

-- The new unit's ids are planned (and recorded) before the unit exists.
alter table forking_events drop constraint forking_events_new_unit_id_fkey,
  drop constraint forking_events_new_gen_account_id_fkey, drop constraint forking_events_new_com_account_id_fkey;
alter table forking_events add column run_id varchar(100) not null default '';
alter table forking_events add column attempt int not null default 1;
alter table merging_events add column run_id varchar(100) not null default '';
alter table merging_events add column attempt int not null default 1;
alter table merging_events add column target_unit_id uuid references units(id);
alter table reinvestment_events add column run_id varchar(100) not null default '';
alter table reinvestment_events add column attempt int not null default 1;
create index forking_events_open_idx on forking_events(parent_account_id) where status = 'started';
create index merging_events_portfolio_completed_idx on merging_events(portfolio_id, completed_at desc) where status = 'completed';

create table broker_accounts (
  account_id uuid primary key,
  broker_ref varchar(64) not null unique,
  status varchar(10) not null check (status in ('open','closed')),
  opened_at timestamptz not null default now(),
  closed_at timestamptz
);

create table broker_transfers (
  idempotency_key varchar(300) primary key,
  from_account_id uuid,
  to_account_id uuid,
  amount numeric(20,2) check (amount > 0),
  -- 'voided': undone before it ever happened (a tombstone), so a late attempt is refused
  status varchar(10) not null check (status in ('settled','reversed','voided')),
  created_at timestamptz not null default now(),
  reversed_at timestamptz
);

create table broker_orders (
  idempotency_key varchar(300) primary key,
  account_id uuid,
  kind varchar(20) check (kind in ('close_positions','buy')),
  amount numeric(20,2),
  status varchar(10) not null check (status in ('filled','reversed','voided')),
  created_at timestamptz not null default now(),
  reversed_at timestamptz
);

-- Fault injection for the paper broker: the next \`remaining\` calls of an
-- operation fail (mode 'error'), hang past their timeout (mode 'timeout') or
-- are refused by the broker (mode 'reject', not retried).
create table paper_broker_faults (
  operation varchar(40) primary key,
  mode varchar(10) not null check (mode in ('error','timeout','reject')),
  remaining int not null check (remaining >= 0)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists paper_broker_faults, broker_orders, broker_transfers, broker_accounts, compensations;
alter table reinvestment_events drop column attempt, drop column run_id;
alter table merging_events drop column target_unit_id, drop column attempt, drop column run_id;
alter table forking_events drop column attempt, drop column run_id;
alter table journal_entries drop column reverses_entry_id, drop column base_changes;
`);
  }
}
