-- oasis_events as seed 003 has it, on a table created by an earlier schema (the seed's own
-- phase-1 table among them): every column github_webhook writes is added where it is missing,
-- as the seed's phase-2 migration did; rows now say `source` `github.actions`; and `module`
-- admits the seed's other writers beside GitHub's four: deploy watchers (`DEPLOY`) and agent
-- heartbeats (`AGENT`). Forward-only and safe to re-run.
alter table public.oasis_events
  add column if not exists vtid        text        not null default 'UNSET',
  add column if not exists layer       text        not null default 'UNSET',
  add column if not exists module      text        not null default 'WORKFLOW',
  add column if not exists source      text        not null default 'github.actions',
  add column if not exists kind        text        not null default 'unknown',
  add column if not exists status      text        not null default 'queued',
  add column if not exists title       text        not null default '',
  add column if not exists ref         text,
  add column if not exists link        text,
  add column if not exists meta        jsonb       not null default '{}'::jsonb,
  add column if not exists delivery_id text,
  add column if not exists created_at  timestamptz not null default now();

alter table public.oasis_events alter column source set default 'github.actions';

alter table public.oasis_events drop constraint if exists oasis_events_module_check;
alter table public.oasis_events add constraint oasis_events_module_check
  check (module in ('WORKFLOW', 'CHECK', 'PR', 'PUSH', 'DEPLOY', 'AGENT'));
