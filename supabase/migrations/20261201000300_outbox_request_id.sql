-- A direct call to push_to_odoo carries an idempotency key (the body's request_id, or
-- `webhook:<webhook-id>` under Standard Webhooks). Keeping it on the row, unique, makes the
-- table the durable record of seen calls across instances and runtimes: a retry or a replay
-- finds its row instead of adding a second one. Rows the database webhook delivers have
-- none (NULLs never collide). Forward-only and safe to re-run.
alter table public.odoo_action_outbox add column if not exists request_id text
  check (char_length(request_id) between 1 and 128);

create unique index if not exists odoo_action_outbox_request_id_key
  on public.odoo_action_outbox (request_id);
