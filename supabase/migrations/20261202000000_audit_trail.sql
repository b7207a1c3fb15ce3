-- The audit trail of the two legs that leave Supabase: every outcome of an action
-- push_to_odoo delivers (applied, or given up as error) and every repository_dispatch
-- git_ops_dispatch sends (dispatched, failed, unknown) also becomes an audit_event row with
-- the flow's correlation id, so one query by correlation id follows Odoo -> Supabase -> Odoo
-- and Odoo -> GitHub end to end. Written by triggers in the same transaction as the status
-- change, so no outcome is recorded without its row or lost between two requests, and on
-- every runtime alike. `source` names the leg; `event_id` makes each outcome one row however
-- often the status is written. Forward-only and safe to re-run.

create or replace function public.audit_outbox_outcome() returns trigger
  language plpgsql set search_path = '' as $$
begin
  insert into public.audit_event
    (source, event_type, resource_id, payload, correlation_id, event_id, occurred_at)
  values (
    'push_to_odoo',
    case new.status when 'applied' then 'odoo_action.applied' else 'odoo_action.failed' end,
    new.id::text,
    jsonb_build_object(
      'action', new.action,
      'attempts', new.attempts,
      'idempotency_key', new.idempotency_key,
      'last_error', new.last_error),
    new.correlation_id,
    'outbox:' || new.id || ':' || new.status,
    coalesce(new.applied_at, now()))
  on conflict (source, event_id) do nothing;
  return null;
end
$$;
revoke all on function public.audit_outbox_outcome() from public, anon, authenticated;
create or replace trigger odoo_action_outbox_audit
  after update of status on public.odoo_action_outbox
  for each row
  when (new.status in ('applied', 'error') and old.status is distinct from new.status)
  execute function public.audit_outbox_outcome();

create or replace function public.audit_git_ops_outcome() returns trigger
  language plpgsql set search_path = '' as $$
begin
  insert into public.audit_event
    (source, event_type, resource_id, payload, correlation_id, event_id, occurred_at)
  values (
    'git_ops_dispatch',
    'repository_dispatch.' || new.status,
    new.request_id,
    jsonb_build_object(
      'event_type', new.event_type,
      'github_status', new.github_status,
      'last_error', new.last_error),
    new.correlation_id,
    'dispatch:' || new.request_id || ':' || new.status,
    now())
  on conflict (source, event_id) do nothing;
  return null;
end
$$;
revoke all on function public.audit_git_ops_outcome() from public, anon, authenticated;
create or replace trigger git_ops_dispatch_audit
  after insert or update of status on public.git_ops_dispatch
  for each row
  when (new.status in ('dispatched', 'failed', 'unknown'))
  execute function public.audit_git_ops_outcome();
