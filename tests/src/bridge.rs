//! The Odoo <-> Supabase bridge's requests and rows that more than one suite sends or makes:
//! the `odoo_event_ingest` suite, the `push_to_odoo` suite, and the `odoo_bridge` test that
//! drives both on one stack. Helpers only one suite needs stay in that suite.

use serde_json::{Value, json};

use crate::e2e::{JSON, Scheme, first_secret, post, post_signed};
use crate::stack::{self, Stack};
use crate::{Exchange, hmac_hex};

/// `odoo_event_ingest`'s route (spin.toml).
pub const INGEST: &str = "/odoo_event_ingest";
/// `push_to_odoo`'s route (spin.toml).
pub const PUSH: &str = "/push_to_odoo";
/// `push_to_odoo`'s drain, called by pg_cron.
pub const DRAIN: &str = "/push_to_odoo/drain";

/// The secret Odoo signs with (events to `odoo_event_ingest`, direct calls to
/// `push_to_odoo`).
pub fn edge_secret(stack: &Stack) -> String {
    first_secret(stack, "EDGE_HMAC_SECRET")
}

/// The secret `push_to_odoo` signs its calls to Odoo with.
pub fn odoo_signing_secret(stack: &Stack) -> String {
    first_secret(stack, "ODOO_SIGNING_SECRET")
}

/// One event whose `resource_id` is `marker`.
pub fn event(marker: &str) -> Value {
    json!({"event_type": "account.move.posted", "resource_id": marker, "payload": {"amount": 12.5, "currency": "EUR"}})
}

/// POSTs `body` to `odoo_event_ingest` on the cell, signed as Odoo signs it.
pub fn ingest_signed(stack: &Stack, body: &str) -> Exchange {
    post_signed(
        stack,
        &stack.url(INGEST),
        &edge_secret(stack),
        Scheme::Hex,
        body.as_bytes(),
    )
}

/// Inserts a queued outbox row; returns (id, correlation_id).
pub fn outbox_row(stack: &Stack, action: &str, args: &Value) -> (i64, String) {
    let out = stack.sql(&format!(
        "insert into odoo_action_outbox (action, args) values ('{action}', '{args}'::jsonb) returning id || '|' || correlation_id"
    ));
    let (id, correlation) = out.split_once('|').unwrap();
    (id.parse().unwrap(), correlation.to_owned())
}

/// The idempotency key of outbox row `id`, as push_to_odoo sends it to Odoo.
pub fn idempotency_key(stack: &Stack, id: i64) -> String {
    stack.sql(&format!(
        "select idempotency_key from odoo_action_outbox where id = {id}"
    ))
}

/// A queued `account.move.post` row for a random move; returns (id, correlation_id).
pub fn account_move(stack: &Stack) -> (i64, String) {
    let move_id = u32::from_str_radix(&stack::random_hex(3), 16).unwrap() + 1;
    outbox_row(stack, "account.move.post", &json!({"id": move_id}))
}

/// The Supabase Database Webhook body announcing a `kind` change of row `id` in `table`.
pub fn webhook_body(kind: &str, table: &str, id: i64) -> Vec<u8> {
    json!({
        "type": kind, "table": table, "schema": "public",
        "record": {"id": id, "status": "queued"}, "old_record": null
    })
    .to_string()
    .into_bytes()
}

/// The `authorization` value the Database Webhook and pg_cron send.
pub fn bearer(stack: &Stack) -> String {
    format!("Bearer {}", stack.var("PUSH_WEBHOOK_TOKEN"))
}

/// The Database Webhook's POST to `push_to_odoo` for the new row `id`.
pub fn push_webhook(stack: &Stack, id: i64) -> Exchange {
    let auth = bearer(stack);
    post(
        stack,
        PUSH,
        &[JSON, ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", id),
    )
}

/// The hex `x-signature` Odoo sends with `body`.
pub fn hex_signature(stack: &Stack, body: &[u8]) -> String {
    hmac_hex(edge_secret(stack).as_bytes(), body)
}
