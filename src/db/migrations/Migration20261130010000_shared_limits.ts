import { Migration } from '@mikro-orm/migrations';

/**
 * State shared by every API process (docs/operations.md, "API keys" and "Rate limits"):
 *
 * - Any update or delete of `api_keys` rows (a revocation through the API or an edit by hand)
 *   notifies the channel `alluse_api_keys` with the key's id (an empty payload after a TRUNCATE:
 *   everything changed). Each API process LISTENs and drops that key from its cache.
 * - `rate_limit_buckets`: one token bucket per API key, taken from by every API process with
 *   one statement, `select * from rate_limit_take(key_id, per_minute)`. UNLOGGED: a bucket
 *   is worth nothing after a crash (it would be full a minute later anyway), and an unlogged
 *   write does not wait for a WAL flush, so the hot row of a busy key is held only for the
 *   statement. Time is PostgreSQL's clock, the same for every process.
 */
export class Migration20261130010000_shared_limits extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create function api_keys_notify() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    perform pg_notify('alluse_api_keys', '');
  elsif tg_op = 'DELETE' then
    perform pg_notify('alluse_api_keys', old.id::text);
  else
    perform pg_notify('alluse_api_keys', new.id::text);
  end if;
  return null;
end $$;
-- Not on insert: a new key is in no cache (only known keys are cached).
create trigger api_keys_notify after update or delete on api_keys
  for each row execute function api_keys_notify();
create trigger api_keys_notify_truncate after truncate on api_keys
  for each statement execute function api_keys_notify();

create unlogged table rate_limit_buckets (
  key_id uuid primary key,
  tokens double precision not null,
  -- Whether the latest request was let through (with tokens, what rate_limit_take returns).
  allowed boolean not null,
  refilled_at timestamptz not null
);

-- What a bucket holds at until when it held tokens at since: it refills at per_minute a minute, up to per_minute.
create function rate_limit_refill(tokens double precision, since timestamptz, until timestamptz, per_minute integer)
returns double precision language sql immutable as $$
  select least(per_minute::double precision,
               tokens + greatest(0, extract(epoch from until - since)::double precision) * per_minute / 60.0)
$$;

-- Takes one token from the key's bucket if it holds one. Returns whether it did, and the tokens
-- left (when refused: what the bucket holds, below 1, from which the caller computes Retry-After).
-- Concurrent calls for one key queue on its row, so together they never take more than it holds.
create function rate_limit_take(p_key_id uuid, p_per_minute integer)
returns table (allowed boolean, tokens double precision) language sql as $$
  insert into rate_limit_buckets as b (key_id, tokens, allowed, refilled_at)
  values (p_key_id, p_per_minute - 1, true, clock_timestamp())
  on conflict (key_id) do update set
    tokens = rate_limit_refill(b.tokens, b.refilled_at, excluded.refilled_at, p_per_minute)
             - case when rate_limit_refill(b.tokens, b.refilled_at, excluded.refilled_at, p_per_minute) >= 1 then 1 else 0 end,
    allowed = rate_limit_refill(b.tokens, b.refilled_at, excluded.refilled_at, p_per_minute) >= 1,
    -- A call that read the clock before another that updated first adds no time twice.
    refilled_at = greatest(b.refilled_at, excluded.refilled_at)
  returning b.allowed, b.tokens
$$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop function if exists rate_limit_take(uuid, integer);
drop function if exists rate_limit_refill(double precision, timestamptz, timestamptz, integer);
drop table if exists rate_limit_buckets;
drop trigger if exists api_keys_notify_truncate on api_keys;
drop trigger if exists api_keys_notify on api_keys;
drop function if exists api_keys_notify();
`);
  }
}
