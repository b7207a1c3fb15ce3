-- The OASIS read side: a signed-in console user (role `authenticated`) may read
-- oasis_events, through RLS, and nothing else; `anon` still holds nothing. The oasis_events
-- function reads as that user with their own token, or as the service role after a read key.
-- The table joins the `supabase_realtime` publication, so a supabase-js console can
-- subscribe to its `postgres_changes` instead (Realtime applies the same select policy).
-- Safe to re-run.
grant select on public.oasis_events to authenticated;

drop policy if exists oasis_events_authenticated_read on public.oasis_events;
create policy oasis_events_authenticated_read on public.oasis_events
  for select to authenticated using (true);

do $$
begin
  -- Supabase creates the publication; a plain PostgreSQL (the local stack) may not have it.
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
  if not exists (
    select 1 from pg_publication_tables
     where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'oasis_events'
  ) then
    alter publication supabase_realtime add table public.oasis_events;
  end if;
end
$$;
