import { Migration } from '@mikro-orm/migrations';

/**
 * Broker statements (docs/domain.md section 9): the broker's id and a label
 * on accounts, statement imports and their lines (`seq` is the record's
 * order in the file; `line` and `part` say where it came from), and
 * valuations (a broker's net liquidation value per account and date: shown
 * beside the realized balance, never posted). Entries are checked balanced
 * once per statement instead of once per posting row.
 */
export class Migration20261129100000_statements extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table accounts add column broker_account_id varchar(64), add column label varchar(100);
create unique index accounts_broker_account_unique on accounts(portfolio_id, broker_account_id) where broker_account_id is not null;

create table imports (
  id uuid primary key,
  portfolio_id uuid not null references portfolios(id),
  format varchar(20) not null check (format in ('csv','ibkr-flex')),
  atomic boolean not null,
  status varchar(20) not null check (status in ('queued','running','completed','failed')),
  file_sha256 char(64) not null,
  actor varchar(200) not null,
  operation_id varchar(300) not null,
  lines int not null,
  posted int not null default 0,
  duplicates int not null default 0,
  rejected int not null default 0,
  ignored int not null default 0,
  error text,
  reconciliation jsonb,
  created_at timestamptz not null default now(),
  completed_at timestamptz
);
create index imports_portfolio_idx on imports(portfolio_id, created_at desc);

create table import_lines (
  import_id uuid not null references imports(id),
  seq int not null,
  line int not null,
  part smallint not null default 0,
  kind varchar(20) not null check (kind in ('activity','statement_balance','valuation')),
  account_id uuid references accounts(id),
  type varchar(30),
  amount numeric(20,2),
  occurred_on date,
  idempotency_key varchar(300),
  reference varchar(200),
  note varchar(1000),
  status varchar(20) not null check (status in ('pending','posted','duplicate','rejected','ignored','recorded','not_posted')),
  reason text,
  entry_id uuid,
  primary key (import_id, seq)
);

-- Every entry balances: checked at the end of each statement that inserts
-- postings, over all the postings of every entry it touched (a later
-- statement adding to an entry is checked again, over the whole entry). One
-- aggregate per statement instead of one trigger call per posting row.
drop trigger postings_balanced on postings;
create function postings_statement_balanced() returns trigger language plpgsql as $$
declare bad record;
begin
  -- One index probe per entry touched (a join would be planned blind: a transition table has no statistics).
  select e.entry_id, t.total into bad
    from (select distinct entry_id from inserted) e
    cross join lateral (select sum(p.amount) as total from postings p where p.entry_id = e.entry_id) t
   where t.total <> 0 limit 1;
  if found then
    raise exception 'journal entry % is unbalanced by %', bad.entry_id, bad.total using errcode = '23514';
  end if;
  return null;
end $$;
create trigger postings_balanced after insert on postings
  referencing new table as inserted for each statement execute function postings_statement_balanced();

create table valuations (
  account_id uuid not null references accounts(id),
  as_of date not null,
  value numeric(20,2) not null,
  import_id uuid references imports(id),
  recorded_at timestamptz not null default now(),
  primary key (account_id, as_of)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists valuations;
drop trigger if exists postings_balanced on postings;
drop function if exists postings_statement_balanced();
create constraint trigger postings_balanced after insert on postings
  deferrable initially deferred for each row execute function postings_entry_balanced();
drop table if exists import_lines;
drop table if exists imports;
drop index if exists accounts_broker_account_unique;
alter table accounts drop column if exists broker_account_id, drop column if exists label;
`);
  }
}
