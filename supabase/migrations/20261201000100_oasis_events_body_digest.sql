-- GitHub signs a delivery's body but not its X-GitHub-Delivery GUID, so a captured delivery
-- replays under any fresh GUID with a valid signature. The body's SHA-256 is the key GitHub
-- does sign: one row per body, whatever the GUID. Rows stored before this migration have no
-- digest (NULLs never collide). Forward-only and safe to re-run.
alter table public.oasis_events add column if not exists body_sha256 text
  check (body_sha256 ~ '^[0-9a-f]{64}$');

create unique index if not exists oasis_events_body_sha256_key
  on public.oasis_events (body_sha256);
