-- pulser-edge schema: the audit trail of Odoo events, the outbox of actions pushed to Odoo,
-- and the normalized GitHub (OASIS) events. Only service_role writes; anon sees nothing.

create table public.audit_event (
  id             bigserial primary key,
  source         text        not null default 'odoo' check (source <> ''),
  event_type     text        not null check (char_length(event_type) between 1 and 200),
  resource_id    text        not null,
  payload        jsonb       not null default '{}'::jsonb check (jsonb_typeof(payload) = 'object'),
  correlation_id uuid        not null,
  event_id       text,
  occurred_at    timestamptz,
  created_at     timestamptz not null default now(),
  -- Retries of the same event (event_id or webhook-id) are stored once.
  constraint audit_event_source_event_id_key unique (source, event_id)
);
create index audit_event_correlation_id_idx on public.audit_event (correlation_id);
create index audit_event_created_at_idx on public.audit_event (created_at desc);

create table public.odoo_action_outbox (
  id              bigserial primary key,
  action          text        not null check (char_length(action) between 1 and 200),
  args            jsonb       not null default '{}'::jsonb check (jsonb_typeof(args) = 'object'),
  status          text        not null default 'queued'
                              check (status in ('queued', 'sent', 'applied', 'error')),
  attempts        integer     not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  last_error      text,
  correlation_id  uuid        not null default gen_random_uuid(),
  created_at      timestamptz not null default now(),
  sent_at         timestamptz,
  applied_at      timestamptz,
  constraint odoo_action_outbox_applied_at_check check (status <> 'applied' or applied_at is not null)
);
-- The drain query: due rows, oldest first (queued by next_attempt_at, stale sent by sent_at).
create index odoo_action_outbox_due_idx on public.odoo_action_outbox (next_attempt_at, id)
  where status = 'queued';
create index odoo_action_outbox_sent_idx on public.odoo_action_outbox (sent_at, id)
  where status = 'sent';

create table public.oasis_events (
  id          bigserial primary key,
  vtid        text        not null default 'UNSET',
  layer       text        not null default 'UNSET',
  module      text        not null check (module in ('WORKFLOW', 'CHECK', 'PR', 'PUSH')),
  source      text        not null default 'github',
  kind        text        not null,
  status      text        not null
                          check (status in ('queued', 'in_progress', 'success', 'failure', 'cancelled')),
  title       text        not null,
  ref         text,
  link        text,
  meta        jsonb       not null default '{}'::jsonb,
  delivery_id text        not null,
  created_at  timestamptz not null default now(),
  -- One row per GitHub delivery: a redelivery (same X-GitHub-Delivery) writes nothing.
  constraint oasis_events_delivery_id_key unique (delivery_id)
);
create index oasis_events_vtid_idx on public.oasis_events (vtid, created_at desc);

alter table public.audit_event enable row level security;
alter table public.odoo_action_outbox enable row level security;
alter table public.oasis_events enable row level security;

-- service_role bypasses RLS on Supabase; the explicit policies keep that true on a plain
-- PostgreSQL where the role might not carry BYPASSRLS.
create policy audit_event_service_role on public.audit_event
  for all to service_role using (true) with check (true);
create policy odoo_action_outbox_service_role on public.odoo_action_outbox
  for all to service_role using (true) with check (true);
create policy oasis_events_service_role on public.oasis_events
  for all to service_role using (true) with check (true);

revoke all on public.audit_event, public.odoo_action_outbox, public.oasis_events
  from anon, authenticated;
grant select, insert, update, delete
  on public.audit_event, public.odoo_action_outbox, public.oasis_events to service_role;
grant usage, select on sequence public.audit_event_id_seq, public.odoo_action_outbox_id_seq,
  public.oasis_events_id_seq to service_role;
