-- Supabase grants every new sequence in public to anon and authenticated (default
-- privileges), so `select setval('public.audit_event_id_seq', 1)` worked as anon and could
-- make every later insert collide. Only service_role uses the sequences. Safe to re-run.
revoke all on sequence public.audit_event_id_seq, public.odoo_action_outbox_id_seq,
  public.oasis_events_id_seq from anon, authenticated;
