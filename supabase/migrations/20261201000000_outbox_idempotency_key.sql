-- Every outbox row gets a key that stays the same across all of its delivery attempts, sent
-- to Odoo as `idempotency-key`, as the body's `idempotency_key` and as the Standard Webhooks
-- `webhook-id`: an Odoo that remembers the keys it applied applies each row once, however
-- often the outbox retries it. Forward-only and safe to re-run (existing rows get a key).
alter table public.odoo_action_outbox
  add column if not exists idempotency_key uuid not null default gen_random_uuid();

create unique index if not exists odoo_action_outbox_idempotency_key_key
  on public.odoo_action_outbox (idempotency_key);
