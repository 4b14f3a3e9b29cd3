import { Migration } from '@mikro-orm/migrations';

/**
 * An entry posted in one round trip: `ledger_post(jsonb)` does, in one
 * statement, what the ledger service did in about eight (docs/performance.md,
 * "One round trip per entry"). The application still plans the entry (the
 * bucket rules live in TypeScript) and builds the audit row's canonical JSON;
 * the function takes the locks, checks every rule of a post against the
 * locked rows and writes. `audit_append(jsonb)` chains one audit row under the
 * chain's lock (one round trip instead of three).
 *
 * Refusals are returned, not raised, so a caller's transaction stays usable
 * and the application maps each code to the same DomainError a post in
 * TypeScript raises (src/ledger/ledger.ts, REFUSALS). Nothing is written
 * before the last check passed.
 */
export class Migration20261130000000_ledger_post extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- The hashed body of an audit row is canonical JSON built by the application
-- (src/audit/audit.ts, chainTemplate), split around the two values decided
-- here under the chain's lock: the time (to the millisecond, as JavaScript
-- writes it) and the sequence number. body = head || at || middle || seq || tail.
create function audit_append(t jsonb) returns void language plpgsql as $$
declare
  v_chain text := t->>'chain';
  v_seq bigint;
  v_prev text;
  v_at timestamptz;
begin
  perform pg_advisory_xact_lock(hashtextextended('audit:' || v_chain, 0));
  select l.seq, l.hash into v_seq, v_prev from audit_log l where l.chain = v_chain order by l.seq desc limit 1;
  v_seq := coalesce(v_seq, 0) + 1;
  v_prev := coalesce(v_prev, repeat('0', 64));
  v_at := date_trunc('milliseconds', clock_timestamp());
  insert into audit_log (chain, seq, at, actor, action, target_type, target_id, portfolio_id, details, prev_hash, hash)
  values (v_chain, v_seq, v_at, t->>'actor', t->>'action', t->>'targetType', t->>'targetId', (t->>'portfolioId')::uuid,
    (t->>'details')::jsonb, v_prev,
    encode(sha256(convert_to(v_prev || E'\\n' || (t->>'head') || to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      || (t->>'middle') || v_seq::text || (t->>'tail'), 'UTF8')), 'hex'));
end $$;

-- What an entry does to each account it touches: the sum of its postings per
-- bucket and of its base-balance changes, with the position of the account's
-- first mention (refusals name the first account that fails, as TypeScript does).
create function ledger_post_deltas(p jsonb)
  returns table (account_id uuid, n bigint, cash numeric, contracts numeric, leaps numeric, reserve numeric, base numeric)
  language sql immutable as $$
  select m.account_id, min(m.n),
         coalesce(sum(m.amount) filter (where m.bucket = 'cash'), 0),
         coalesce(sum(m.amount) filter (where m.bucket = 'contracts'), 0),
         coalesce(sum(m.amount) filter (where m.bucket = 'leaps'), 0),
         coalesce(sum(m.amount) filter (where m.bucket = 'reserve'), 0),
         sum(m.base)
    from (select (e.v->>'accountId')::uuid as account_id, e.n, e.v->>'bucket' as bucket, (e.v->>'amount')::numeric as amount,
                 0::numeric as base
            from jsonb_array_elements(p->'legs') with ordinality e(v, n)
          union all
          select (e.v->>'accountId')::uuid, 1000000000 + e.n, null, 0, (e.v->>'delta')::numeric
            from jsonb_array_elements(coalesce(p->'baseChanges', '[]')) with ordinality e(v, n)) m
   group by m.account_id
$$;

-- The first refusal an entry earns by its shape alone (no state needed), or
-- null: at least two postings, each a non-zero amount in cents, base-balance
-- changes in cents, all on the accounts named, and the postings summing to zero.
create function ledger_post_shape(p jsonb, ids uuid[]) returns jsonb language sql immutable as $$
  select case
    when jsonb_array_length(coalesce(p->'legs', '[]')) < 2 then jsonb_build_object('code', 'too_few_legs')
    else coalesce(
      (select case when m.not_cents then jsonb_build_object('code', 'not_cents', 'amount', m.amount::text)
                   else jsonb_build_object('code', 'not_locked', 'accountId', m.account_id) end
         from (select l.amount, l.account_id, l.part, l.n,
                      (l.amount <> round(l.amount, 2) or (l.part = 0 and l.amount = 0)) as not_cents
                 from (select (e.v->>'amount')::numeric as amount, (e.v->>'accountId')::uuid as account_id, 0 as part, e.n
                         from jsonb_array_elements(p->'legs') with ordinality e(v, n)
                       union all
                       select (e.v->>'delta')::numeric, (e.v->>'accountId')::uuid, 1, e.n
                         from jsonb_array_elements(coalesce(p->'baseChanges', '[]')) with ordinality e(v, n)) l) m
        where m.not_cents or not (m.account_id = any(ids))
        order by m.part, m.n limit 1),
      (select jsonb_build_object('code', 'unbalanced', 'total', t.total::text)
         from (select sum((e.v->>'amount')::numeric) as total from jsonb_array_elements(p->'legs') e(v)) t
        where t.total <> 0))
  end
$$;

-- One journal entry, whole. The argument (built by src/ledger/ledger.ts):
--   key, entryId, portfolioId, kind, actor, operationId, occurredAt, reference, note, reversesEntryId,
--   compensable: serialise with the undo on the key and refuse once it was compensated,
--   accounts: [{id, version, status}] every account the entry may touch, in the plan's order; with a
--     version and status when the plan was made from them (the entry is refused as stale if either moved),
--   legs: [{accountId, bucket, amount}], baseChanges: [{accountId, delta}],
--   audit: the audit row (audit_append), request: {scope, requestHash, accountId} an HTTP request's
--     idempotency record to store with the entry (the response keeps the account as the entry left it).
-- Returns {status: posted, entryId[, response]} | {status: duplicate, entryId} | {status: stale, accountId}
--   | {status: refused, code, ...facts}, with the checks in the order a post in TypeScript makes them.
-- What needs no state is done before the locks; under them, one statement reads every fact the checks need.
create function ledger_post(p jsonb) returns jsonb language plpgsql as $$
declare
  v_key text := p->>'key';
  v_entry uuid := (p->>'entryId')::uuid;
  v_portfolio uuid := (p->>'portfolioId')::uuid;
  v_ids uuid[];
  v_shape jsonb;
  v_found record;
  v_id uuid;
  v_response jsonb;
begin
  if coalesce((p->>'compensable')::boolean, false) then
    perform pg_advisory_xact_lock(hashtextextended('ledger:' || v_key, 0));
    if exists (select 1 from compensations where forward_key = v_key) then
      return jsonb_build_object('status', 'refused', 'code', 'compensated', 'key', v_key);
    end if;
  end if;
  v_ids := array(select distinct (a->>'id')::uuid from jsonb_array_elements(p->'accounts') a order by 1);
  v_shape := ledger_post_shape(p, v_ids);

  -- Locks in id order (so two entries never wait on each other in a cycle) and, on the locked rows: how many
  -- exist, the first account moved since the plan read it, the first of another portfolio or whose life is
  -- over (terminal statuses: TERMINAL_STATUSES of src/ledger/ledger.ts), and the first that would go below
  -- zero in a bucket or its base balance (the external account's balance is not cached: it is its postings).
  with locked as materialized (
         select a.id, a.portfolio_id, a.type, a.status, a.version, a.cash, a.contracts, a.leaps, a.reserve, a.base_balance
           from accounts a where a.id = any(v_ids) order by a.id for update),
       named as (
         select (s.v->>'id')::uuid as id, (s.v->>'version')::int as version, s.v->>'status' as status, s.n
           from jsonb_array_elements(p->'accounts') with ordinality s(v, n))
  select (select count(*) from locked)::int as locked,
         (select l.id from named s join locked l on l.id = s.id
           where s.version is not null and (l.version <> s.version or l.status is distinct from s.status) limit 1) as moved,
         b.id as bad_id, b.portfolio_id as bad_portfolio, b.status as bad_status,
         g.id as negative_id, g.bucket as negative_bucket
    into v_found
    from (select 1) one
    left join lateral (
      select l.id, l.portfolio_id, l.status from named s join locked l on l.id = s.id
       where l.portfolio_id <> v_portfolio or l.status in ('merged', 'closed') order by s.n limit 1) b on true
    left join lateral (
      select x.id, case when x.cash < 0 then 'cash' when x.contracts < 0 then 'contracts' when x.leaps < 0 then 'leaps'
                        when x.reserve < 0 then 'reserve' end as bucket
        from (select l.id, d.n, l.cash + d.cash as cash, l.contracts + d.contracts as contracts, l.leaps + d.leaps as leaps,
                     l.reserve + d.reserve as reserve, l.base_balance + d.base as base
                from ledger_post_deltas(p) d join locked l on l.id = d.account_id where l.type <> 'external') x
       where x.cash < 0 or x.contracts < 0 or x.leaps < 0 or x.reserve < 0 or x.base < 0
       order by x.n limit 1) g on true;

  if v_found.locked <> cardinality(v_ids) then
    select u into v_id from unnest(v_ids) u where not exists (select 1 from accounts a where a.id = u) order by u limit 1;
    return jsonb_build_object('status', 'refused', 'code', 'account_not_found', 'accountId', v_id);
  end if;
  -- Looked up after the locks: a concurrent post with the same key has committed by now, or never will first.
  select id into v_id from journal_entries where idempotency_key = v_key;
  if found then
    return jsonb_build_object('status', 'duplicate', 'entryId', v_id);
  end if;
  if v_found.moved is not null then
    return jsonb_build_object('status', 'stale', 'accountId', v_found.moved);
  end if;
  if v_found.bad_id is not null then
    if v_found.bad_portfolio <> v_portfolio then
      return jsonb_build_object('status', 'refused', 'code', 'cross_portfolio', 'accountId', v_found.bad_id);
    end if;
    return jsonb_build_object('status', 'refused', 'code', 'terminal', 'accountId', v_found.bad_id, 'accountStatus', v_found.bad_status);
  end if;
  if v_shape is not null then
    return jsonb_build_object('status', 'refused') || v_shape;
  end if;
  if v_found.negative_id is not null then
    if v_found.negative_bucket is not null then
      return jsonb_build_object('status', 'refused', 'code', 'negative_bucket', 'accountId', v_found.negative_id, 'bucket', v_found.negative_bucket);
    end if;
    return jsonb_build_object('status', 'refused', 'code', 'negative_base', 'accountId', v_found.negative_id);
  end if;

  insert into journal_entries (id, portfolio_id, idempotency_key, kind, actor, operation_id, occurred_at, reference, note,
                               reverses_entry_id, base_changes)
  values (v_entry, v_portfolio, v_key, p->>'kind', p->>'actor', p->>'operationId',
          coalesce((p->>'occurredAt')::timestamptz, clock_timestamp()), p->>'reference', p->>'note',
          (p->>'reversesEntryId')::uuid, coalesce(p->'baseChanges', '[]'))
  on conflict (idempotency_key) do nothing;
  if not found then
    -- Taken by a transaction that committed after the lookup above (a key not tied to the accounts locked).
    select id into v_id from journal_entries where idempotency_key = v_key;
    return jsonb_build_object('status', 'duplicate', 'entryId', v_id);
  end if;
  insert into postings (entry_id, account_id, bucket, amount)
  select v_entry, (e.v->>'accountId')::uuid, e.v->>'bucket', (e.v->>'amount')::numeric
    from jsonb_array_elements(p->'legs') with ordinality e(v, n) order by e.n;
  update accounts a
     set cash = a.cash + d.cash, contracts = a.contracts + d.contracts, leaps = a.leaps + d.leaps, reserve = a.reserve + d.reserve,
         base_balance = a.base_balance + d.base, version = a.version + 1, updated_at = now()
    from ledger_post_deltas(p) d
   where a.id = any(v_ids) and a.id = d.account_id and a.type <> 'external';
  perform audit_append(p->'audit');

  if jsonb_typeof(p->'request') = 'object' then
    select jsonb_build_object('entryId', v_entry, 'settings', pf.settings, 'accountRow', jsonb_build_object(
             'id', a.id, 'portfolio_id', a.portfolio_id, 'unit_id', a.unit_id, 'type', a.type, 'status', a.status,
             'balance', a.balance::text, 'base_balance', a.base_balance::text, 'cash', a.cash::text,
             'contracts', a.contracts::text, 'leaps', a.leaps::text, 'reserve', a.reserve::text,
             'parent_account_id', a.parent_account_id, 'broker_account_id', a.broker_account_id, 'label', a.label,
             'created_at', a.created_at, 'version', a.version))
      into v_response
      from accounts a join portfolios pf on pf.id = a.portfolio_id
     where a.id = (p->'request'->>'accountId')::uuid;
    insert into idempotent_requests (scope, request_hash, status_code, response)
    values (p->'request'->>'scope', p->'request'->>'requestHash', 201, v_response);
    return jsonb_build_object('status', 'posted', 'entryId', v_entry, 'response', v_response);
  end if;
  return jsonb_build_object('status', 'posted', 'entryId', v_entry);
end $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists ledger_post(jsonb); drop function if exists ledger_post_shape(jsonb, uuid[]);
drop function if exists ledger_post_deltas(jsonb); drop function if exists audit_append(jsonb);`);
  }
}
