-- The request ids git_ops_dispatch has seen, one row each, which double as the audit trail
-- of its repository_dispatch calls. A caller's retry or a replay of a signed request finds
-- the row and is answered from it instead of dispatching again (repository_dispatch has no
-- idempotency key of its own). Forward-only and safe to re-run.
create table if not exists public.git_ops_dispatch (
  request_id     text        primary key check (char_length(request_id) between 1 and 128),
  event_type     text        not null,
  correlation_id uuid        not null,
  -- dispatching: claimed, GitHub's answer not recorded yet; dispatched: GitHub answered 204;
  -- failed: GitHub surely did not dispatch it (a retry with the same id may); unknown: the
  -- dispatch may have reached GitHub, so it is never sent again.
  status         text        not null
                             check (status in ('dispatching', 'dispatched', 'failed', 'unknown')),
  -- When the caller signed the request (its timestamp), not when it arrived.
  requested_at   timestamptz not null,
  client_payload jsonb       not null check (jsonb_typeof(client_payload) = 'object'),
  github_status  integer,
  last_error     text,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
create index if not exists git_ops_dispatch_created_at_idx
  on public.git_ops_dispatch (created_at desc);

-- updated_at is the database's clock on every write, as created_at is, so the trail never
-- mixes clocks; git_ops_dispatch reads it to tell a claim abandoned mid-dispatch.
create or replace function public.git_ops_dispatch_touch() returns trigger
  language plpgsql set search_path = '' as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke all on function public.git_ops_dispatch_touch() from public, anon, authenticated;
create or replace trigger git_ops_dispatch_touch before update on public.git_ops_dispatch
  for each row execute function public.git_ops_dispatch_touch();

alter table public.git_ops_dispatch enable row level security;

-- As for the other tables: service_role only, also on a plain PostgreSQL where the role
-- might not carry BYPASSRLS. A policy has no `if not exists`, hence the check.
do $$
begin
  if not exists (
    select 1 from pg_policies
    where schemaname = 'public' and tablename = 'git_ops_dispatch'
      and policyname = 'git_ops_dispatch_service_role'
  ) then
    create policy git_ops_dispatch_service_role on public.git_ops_dispatch
      for all to service_role using (true) with check (true);
  end if;
end
$$;

revoke all on public.git_ops_dispatch from anon, authenticated;
grant select, insert, update, delete on public.git_ops_dispatch to service_role;
