#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Odoo <-> Supabase bridge end to end: `odoo_event_ingest` and `push_to_odoo` as built
//! WASI components behind the edge host, against real PostgreSQL 15 + PostgREST 12 and the
//! strict Odoo stand-in; then the Workers builds of both under workerd.
//!
//! Tests that never change the stand-ins' modes or the variables share one stack and keep
//! apart by unique markers (resource ids, action args). Anything that fails Odoo, stops
//! PostgREST, sets a variable or drains the outbox (which would take other tests' rows)
//! starts a stack of its own.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use pulser_tests::stack::{self, OdooMode, Stack};
use pulser_tests::{Exchange, hmac_hex, request};
use serde_json::{Value, json};
use sha2::Sha256;

const INGEST: &str = "/odoo_event_ingest";
const PUSH: &str = "/push_to_odoo";
const DRAIN: &str = "/push_to_odoo/drain";
const JSON: (&str, &str) = ("content-type", "application/json");

// ---- helpers ---------------------------------------------------------------------------

/// A marker no other test uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", stack::random_hex(6))
}

/// Every secret value the stack hands to components.
fn secret_values(stack: &Stack) -> Vec<String> {
    [
        "EDGE_HMAC_SECRET",
        "ODOO_API_TOKEN",
        "PUSH_WEBHOOK_TOKEN",
        "SUPABASE_SERVICE_ROLE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "PULSER_WEBHOOK_SECRET",
    ]
    .iter()
    .map(|name| stack.var(name))
    .collect()
}

fn assert_no_secret(stack: &Stack, what: &str, text: &str) {
    for secret in secret_values(stack) {
        assert!(
            !text.contains(&secret),
            "a secret leaked into {what}:\n{text}"
        );
    }
}

fn assert_response_clean(stack: &Stack, exchange: &Exchange) {
    let mut text = String::from_utf8_lossy(&exchange.body).into_owned();
    for (name, value) in &exchange.headers {
        text.push_str(&format!("\n{name}: {value}"));
    }
    assert_no_secret(stack, "a response", &text);
}

/// POSTs to the edge host; every answer must carry a correlation id and no secret.
fn post(stack: &Stack, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    send(stack, "POST", &stack.edge_url(path), headers, body)
}

fn send(stack: &Stack, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Exchange {
    let exchange = request(method, url, headers, body);
    assert!(
        exchange.header("x-correlation-id").is_some(),
        "{method} {url} answered {} without x-correlation-id",
        exchange.status
    );
    assert_response_clean(stack, &exchange);
    exchange
}

fn hex_signature(stack: &Stack, body: &[u8]) -> String {
    hmac_hex(stack.var("EDGE_HMAC_SECRET").as_bytes(), body)
}

/// Standard Webhooks headers for `body`, signed at `timestamp` with the stack's secret
/// (computed here with the hmac crate, not with pulser-signing).
fn standard_headers(stack: &Stack, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(stack.var("EDGE_HMAC_SECRET").as_bytes()).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), format!("v1,{signature}")),
    ]
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn ingest_signed(stack: &Stack, body: &str) -> Exchange {
    let signature = hex_signature(stack, body.as_bytes());
    post(
        stack,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    )
}

/// One event whose `resource_id` is `marker`.
fn event(marker: &str) -> Value {
    json!({"event_type": "account.move.posted", "resource_id": marker, "payload": {"amount": 12.5, "currency": "EUR"}})
}

fn audit_rows(stack: &Stack, marker: &str) -> usize {
    stack
        .sql(&format!(
            "select count(*) from audit_event where resource_id = '{marker}' or payload->>'marker' = '{marker}'"
        ))
        .parse()
        .unwrap()
}

/// An ingest request that must be refused with `status`/`code` and store nothing.
fn assert_ingest_refused(
    stack: &Stack,
    marker: &str,
    exchange: &Exchange,
    status: u16,
    code: &str,
) -> Value {
    let body = exchange.json();
    assert_eq!(
        (exchange.status, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(
        audit_rows(stack, marker),
        0,
        "a refused request stored a row"
    );
    body
}

/// Inserts a queued outbox row; returns (id, correlation_id).
fn outbox_row(stack: &Stack, action: &str, args: &Value) -> (i64, String) {
    let out = stack.sql(&format!(
        "insert into odoo_action_outbox (action, args) values ('{action}', '{args}'::jsonb) returning id || '|' || correlation_id"
    ));
    let (id, correlation) = out.split_once('|').unwrap();
    (id.parse().unwrap(), correlation.to_owned())
}

fn account_move(stack: &Stack) -> (i64, String) {
    let move_id = u32::from_str_radix(&stack::random_hex(3), 16).unwrap() + 1;
    outbox_row(stack, "account.move.post", &json!({"id": move_id}))
}

/// `status|attempts|sent_at is null|applied_at is null|last_error`.
fn outbox_state(stack: &Stack, id: i64) -> String {
    stack.sql(&format!(
        "select status || '|' || attempts || '|' || (sent_at is null) || '|' || (applied_at is null) || '|' || coalesce(last_error, '') from odoo_action_outbox where id = {id}"
    ))
}

fn webhook_body(kind: &str, table: &str, id: i64) -> Vec<u8> {
    json!({
        "type": kind, "table": table, "schema": "public",
        "record": {"id": id, "status": "queued"}, "old_record": null
    })
    .to_string()
    .into_bytes()
}

fn bearer(stack: &Stack) -> String {
    format!("Bearer {}", stack.var("PUSH_WEBHOOK_TOKEN"))
}

fn push_webhook(stack: &Stack, id: i64) -> Exchange {
    let auth = bearer(stack);
    post(
        stack,
        PUSH,
        &[JSON, ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", id),
    )
}

fn drain(stack: &Stack) -> Value {
    let auth = bearer(stack);
    let exchange = post(stack, DRAIN, &[("authorization", &auth)], b"");
    assert_eq!(
        exchange.status,
        200,
        "{}",
        String::from_utf8_lossy(&exchange.body)
    );
    exchange.json()
}

/// Odoo calls made for one row (the stand-in records every call; rows differ by
/// correlation id).
fn odoo_calls(stack: &Stack, correlation_id: &str) -> Vec<Exchange> {
    stack
        .odoo
        .calls()
        .into_iter()
        .filter(|c| c.header("x-correlation-id") == Some(correlation_id))
        .collect()
}

/// Makes a retrying row due now (standing in for the backoff passing).
fn make_due(stack: &Stack, id: i64) {
    stack.sql(&format!(
        "update odoo_action_outbox set next_attempt_at = now() - interval '1 second' where id = {id}"
    ));
}

/// A push request refused with `status`/`code`: the row is untouched and Odoo never heard
/// of it.
fn assert_push_refused(
    stack: &Stack,
    row: &(i64, String),
    exchange: &Exchange,
    status: u16,
    code: &str,
) -> Value {
    let body = exchange.json();
    assert_eq!(
        (exchange.status, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert_eq!(outbox_state(stack, row.0), "queued|0|true|true|");
    assert!(odoo_calls(stack, &row.1).is_empty());
    body
}

fn assert_logs_clean(stack: &Stack) {
    assert_no_secret(stack, "the edge host's log", &stack.edge_logs());
}

// ---- odoo_event_ingest -----------------------------------------------------------------

#[test]
fn ingest_stores_one_event() {
    let stack = stack::shared();
    let marker = unique("inv");
    let correlation = "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11";
    let mut body = event(&marker);
    body["correlation_id"] = json!(correlation);
    body["event_id"] = json!(unique("evt"));
    body["occurred_at"] = json!("2026-11-23 09:30:00");
    let answer = ingest_signed(&stack, &body.to_string());
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    assert_eq!(json["correlation_id"], correlation);
    let id = json["id"].as_i64().unwrap();
    assert_eq!(
        stack.sql(&format!(
            "select source || '|' || event_type || '|' || resource_id || '|' || payload::text || '|' || correlation_id || '|' || event_id || '|' || (occurred_at = '2026-11-23T09:30:00Z') from audit_event where id = {id}"
        )),
        format!(
            r#"odoo|account.move.posted|{marker}|{{"amount": 12.5, "currency": "EUR"}}|{correlation}|{}|true"#,
            body["event_id"].as_str().unwrap()
        )
    );
}

#[test]
fn ingest_without_correlation_id_uses_the_answers_one() {
    let stack = stack::shared();
    let marker = unique("inv");
    let answer = ingest_signed(&stack, &event(&marker).to_string());
    assert_eq!(answer.status, 201);
    let correlation = answer.header("x-correlation-id").unwrap().to_owned();
    assert_eq!(answer.json()["correlation_id"], correlation.as_str());
    assert_eq!(
        stack.sql(&format!(
            "select correlation_id from audit_event where resource_id = '{marker}'"
        )),
        correlation
    );
}

#[test]
fn ingest_stores_a_batch() {
    let stack = stack::shared();
    let marker = unique("batch");
    let batch = json!([event(&marker), event(&marker), event(&marker)]);
    let answer = ingest_signed(&stack, &batch.to_string());
    assert_eq!(answer.status, 201);
    let items = answer.json();
    let ids: Vec<i64> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(audit_rows(&stack, &marker), 3);
    assert_eq!(
        stack.sql(&format!(
            "select string_agg(id::text, ',' order by id) from audit_event where resource_id = '{marker}'"
        )),
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
}

#[test]
fn ingest_repeated_event_id_is_stored_once() {
    let stack = stack::shared();
    let marker = unique("dup");
    let event_id = unique("evt");
    let mut body = event(&marker);
    body["event_id"] = json!(event_id);
    let first = ingest_signed(&stack, &body.to_string());
    assert_eq!(first.status, 201);
    let second = ingest_signed(&stack, &body.to_string());
    assert_eq!(second.status, 200);
    let json = second.json();
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["event_id"], event_id.as_str());
    assert_eq!(audit_rows(&stack, &marker), 1);
}

#[test]
fn ingest_batch_with_a_repeat_stores_only_the_new_event() {
    let stack = stack::shared();
    let marker = unique("mix");
    let (old, new) = (unique("evt"), unique("evt"));
    let mut a = event(&marker);
    a["event_id"] = json!(old);
    assert_eq!(ingest_signed(&stack, &a.to_string()).status, 201);
    let mut b = event(&marker);
    b["event_id"] = json!(new);
    let answer = ingest_signed(&stack, &json!([a, b]).to_string());
    assert_eq!(answer.status, 201);
    let items = answer.json();
    assert_eq!(items[0]["duplicate"], true);
    assert!(items[1]["id"].is_i64());
    assert_eq!(audit_rows(&stack, &marker), 2);
}

#[test]
fn ingest_standard_webhooks_redelivery_is_stored_once() {
    let stack = stack::shared();
    let marker = unique("sw");
    let body = event(&marker).to_string();
    let id = unique("msg");
    let headers = standard_headers(
        &stack,
        &id,
        pulser_tests::clock::unix_now(),
        body.as_bytes(),
    );
    let first = post(&stack, INGEST, &pairs(&headers), body.as_bytes());
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = post(&stack, INGEST, &pairs(&headers), body.as_bytes());
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["event_id"], id.as_str());
    assert_eq!(audit_rows(&stack, &marker), 1);
    assert_eq!(
        stack.sql(&format!(
            "select event_id from audit_event where resource_id = '{marker}'"
        )),
        id
    );
}

#[test]
fn ingest_unsigned_is_401() {
    let stack = stack::shared();
    let marker = unique("unsigned");
    let r = post(
        &stack,
        INGEST,
        &[JSON],
        event(&marker).to_string().as_bytes(),
    );
    let body = assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
    assert_eq!(body["header"], "x-signature");
}

#[test]
fn ingest_signature_with_another_secret_is_401() {
    let stack = stack::shared();
    let marker = unique("wrongkey");
    let body = event(&marker).to_string();
    let signature = hmac_hex(b"not-the-secret", body.as_bytes());
    let r = post(
        &stack,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
}

#[test]
fn ingest_signature_of_another_body_is_401() {
    let stack = stack::shared();
    let marker = unique("tampered");
    let signature = hex_signature(&stack, event("something-else").to_string().as_bytes());
    let r = post(
        &stack,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        event(&marker).to_string().as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
}

#[test]
fn ingest_truncated_signature_is_401() {
    let stack = stack::shared();
    let marker = unique("truncated");
    let body = event(&marker).to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = post(
        &stack,
        INGEST,
        &[JSON, ("x-signature", &signature[..40])],
        body.as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
}

#[test]
fn ingest_standard_webhook_too_old_is_401() {
    let stack = stack::shared();
    let marker = unique("stale");
    let body = event(&marker).to_string();
    let headers = standard_headers(
        &stack,
        &unique("msg"),
        pulser_tests::clock::unix_now() - 600,
        body.as_bytes(),
    );
    let r = post(&stack, INGEST, &pairs(&headers), body.as_bytes());
    let json = assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
    assert_eq!(json["header"], "webhook-timestamp");
}

#[test]
fn ingest_get_is_405() {
    let stack = stack::shared();
    let r = send(&stack, "GET", &stack.edge_url(INGEST), &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(r.json()["error"], "method_not_allowed");
}

#[test]
fn ingest_text_plain_is_415() {
    let stack = stack::shared();
    let marker = unique("text");
    let body = event(&marker).to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = post(
        &stack,
        INGEST,
        &[("content-type", "text/plain"), ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 415, "unsupported_media_type");
}

#[test]
fn ingest_body_over_one_mebibyte_is_413() {
    let stack = stack::shared();
    let marker = unique("huge");
    let mut body = event(&marker);
    body["payload"] = json!({"pad": "x".repeat(1024 * 1024)});
    let body = body.to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = post(
        &stack,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 413, "payload_too_large");
}

#[test]
fn ingest_malformed_json_is_400() {
    let stack = stack::shared();
    let marker = unique("broken");
    let body = format!(r#"{{"event_type":"x","resource_id":"{marker}","payload":{{"#);
    let r = ingest_signed(&stack, &body);
    assert_ingest_refused(&stack, &marker, &r, 400, "invalid_json");
}

fn assert_ingest_invalid(body: &Value, marker: &str, field: &str, index: Option<u64>) {
    let stack = stack::shared();
    let r = ingest_signed(&stack, &body.to_string());
    let json = assert_ingest_refused(&stack, marker, &r, 422, "invalid_event");
    assert_eq!(json["field"], field, "{json}");
    assert_eq!(json.get("index").and_then(Value::as_u64), index, "{json}");
}

#[test]
fn ingest_missing_event_type_is_422() {
    let marker = unique("noet");
    let mut body = event(&marker);
    body.as_object_mut().unwrap().remove("event_type");
    assert_ingest_invalid(&body, &marker, "event_type", None);
}

#[test]
fn ingest_event_type_over_200_characters_is_422() {
    let marker = unique("longet");
    let mut body = event(&marker);
    body["event_type"] = json!("e".repeat(201));
    assert_ingest_invalid(&body, &marker, "event_type", None);
}

#[test]
fn ingest_boolean_resource_id_is_422() {
    let marker = unique("boolrid");
    let body = json!({"event_type": "t", "resource_id": true, "payload": {"marker": marker}});
    assert_ingest_invalid(&body, &marker, "resource_id", None);
}

#[test]
fn ingest_payload_that_is_not_an_object_is_422() {
    let marker = unique("arr");
    let mut body = event(&marker);
    body["payload"] = json!([1, 2]);
    assert_ingest_invalid(&body, &marker, "payload", None);
}

#[test]
fn ingest_correlation_id_that_is_not_a_uuid_is_422() {
    let marker = unique("corr");
    let mut body = event(&marker);
    body["correlation_id"] = json!("odoo-42");
    assert_ingest_invalid(&body, &marker, "correlation_id", None);
}

#[test]
fn ingest_impossible_occurred_at_is_422() {
    let marker = unique("when");
    let mut body = event(&marker);
    body["occurred_at"] = json!("2026-02-30T10:00:00Z");
    assert_ingest_invalid(&body, &marker, "occurred_at", None);
}

#[test]
fn ingest_bad_event_in_a_batch_names_its_index_and_stores_none() {
    let marker = unique("batchbad");
    let mut bad = event(&marker);
    bad["payload"] = json!("nope");
    let body = json!([event(&marker), event(&marker), bad]);
    assert_ingest_invalid(&body, &marker, "payload", Some(2));
}

#[test]
fn ingest_empty_batch_is_422() {
    let stack = stack::shared();
    let r = ingest_signed(&stack, "[]");
    assert_eq!((r.status, r.json()["field"].as_str()), (422, Some("body")));
}

#[test]
fn ingest_batch_of_501_is_422() {
    let marker = unique("big");
    let body = Value::Array(vec![event(&marker); 501]);
    assert_ingest_invalid(&body, &marker, "body", None);
}

#[test]
fn ingest_with_postgrest_down_is_503_and_stores_nothing() {
    let mut stack = Stack::builder().start();
    stack.stop_postgrest();
    let marker = unique("down");
    let r = ingest_signed(&stack, &event(&marker).to_string());
    let body = r.json();
    assert_eq!(
        (r.status, body["error"].as_str()),
        (503, Some("store_unavailable")),
        "{body}"
    );
    assert!(r.header("retry-after").is_some());
    assert!(body.get("id").is_none());
    assert_eq!(audit_rows(&stack, &marker), 0);
    assert_logs_clean(&stack);
}

// ---- push_to_odoo on the shared stack (Odoo answers 200; nothing drains) ----------------

#[test]
fn push_webhook_applies_the_row() {
    let stack = stack::shared();
    let (id, correlation) = account_move(&stack);
    let r = push_webhook(&stack, id);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({"id": id, "claimed": true, "status": "applied", "attempts": 1})
    );
    assert_eq!(outbox_state(&stack, id), "applied|1|false|false|");
    let calls = odoo_calls(&stack, &correlation);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].status, 200,
        "the strict stand-in accepted the signed call"
    );
    let args = stack.sql(&format!(
        "select args::text from odoo_action_outbox where id = {id}"
    ));
    assert_eq!(
        calls[0].json(),
        json!({"action": "account.move.post", "args": serde_json::from_str::<Value>(&args).unwrap(), "correlation_id": correlation})
    );
}

#[test]
fn push_partner_update_is_applied() {
    let stack = stack::shared();
    let row = outbox_row(
        &stack,
        "res.partner.update",
        &json!({"id": 8, "values": {"email": "ada@example.com"}}),
    );
    let r = push_webhook(&stack, row.0);
    assert_eq!(r.json()["status"], "applied");
    assert_eq!(
        odoo_calls(&stack, &row.1)[0].json()["args"]["values"]["email"],
        "ada@example.com"
    );
}

#[test]
fn push_duplicate_webhook_delivery_calls_odoo_once() {
    let stack = stack::shared();
    let (id, correlation) = account_move(&stack);
    assert_eq!(push_webhook(&stack, id).json()["status"], "applied");
    let again = push_webhook(&stack, id);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["claimed"], false);
    assert_eq!(odoo_calls(&stack, &correlation).len(), 1);
    assert_eq!(outbox_state(&stack, id), "applied|1|false|false|");
}

#[test]
fn push_direct_call_inserts_the_row_and_applies_it() {
    let stack = stack::shared();
    let move_id = u32::from_str_radix(&stack::random_hex(3), 16).unwrap() + 100_000;
    let body = json!({"action": "account.move.post", "args": {"id": move_id}}).to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let json = r.json();
    assert_eq!(json["status"], "applied");
    let id = json["id"].as_i64().unwrap();
    assert_eq!(
        stack.sql(&format!(
            "select (args->>'id') || '|' || status || '|' || correlation_id from odoo_action_outbox where id = {id}"
        )),
        format!("{move_id}|applied|{}", r.header("x-correlation-id").unwrap())
    );
}

#[test]
fn push_update_and_delete_events_are_ignored() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let auth = bearer(&stack);
    for kind in ["UPDATE", "DELETE"] {
        let r = post(
            &stack,
            PUSH,
            &[JSON, ("authorization", &auth)],
            &webhook_body(kind, "odoo_action_outbox", row.0),
        );
        assert_eq!(
            (r.status, r.json()),
            (200, json!({"ignored": true, "type": kind}))
        );
    }
    assert_eq!(outbox_state(&stack, row.0), "queued|0|true|true|");
    assert!(odoo_calls(&stack, &row.1).is_empty());
}

#[test]
fn push_unknown_action_is_an_error_and_odoo_is_not_called() {
    let stack = stack::shared();
    let row = outbox_row(&stack, "res.users.unlink", &json!({"id": 1}));
    let r = push_webhook(&stack, row.0);
    assert_eq!(r.json()["status"], "error");
    assert!(odoo_calls(&stack, &row.1).is_empty());
    let state = outbox_state(&stack, row.0);
    assert!(
        state.starts_with("error|0|false|true|action `res.users.unlink` is not allowed"),
        "{state}"
    );
}

#[test]
fn push_bad_args_are_an_error_and_odoo_is_not_called() {
    let stack = stack::shared();
    let row = outbox_row(&stack, "account.move.post", &json!({"id": "7"}));
    push_webhook(&stack, row.0);
    assert!(odoo_calls(&stack, &row.1).is_empty());
    assert_eq!(
        outbox_state(&stack, row.0),
        "error|0|false|true|account.move.post: args.id must be a positive integer"
    );
}

#[test]
fn push_without_credentials_is_401() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let r = post(
        &stack,
        PUSH,
        &[JSON],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    assert_push_refused(&stack, &row, &r, 401, "unauthorized");
}

#[test]
fn push_with_a_wrong_bearer_is_401() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("authorization", "Bearer not-the-token")],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    let body = assert_push_refused(&stack, &row, &r, 401, "unauthorized");
    assert_eq!(body["header"], "authorization");
}

#[test]
fn push_with_basic_authorization_is_401() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let token = base64::engine::general_purpose::STANDARD.encode(stack.var("PUSH_WEBHOOK_TOKEN"));
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("authorization", &format!("Basic {token}"))],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    assert_push_refused(&stack, &row, &r, 401, "unauthorized");
}

#[test]
fn drain_without_bearer_is_401() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let r = post(&stack, DRAIN, &[], b"");
    assert_push_refused(&stack, &row, &r, 401, "unauthorized");
}

#[test]
fn drain_with_a_wrong_bearer_is_401() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let r = post(&stack, DRAIN, &[("authorization", "Bearer guess")], b"");
    assert_push_refused(&stack, &row, &r, 401, "unauthorized");
}

#[test]
fn push_direct_call_with_a_wrong_signature_is_401_and_inserts_nothing() {
    let stack = stack::shared();
    let move_id = 900_000 + u32::from_str_radix(&stack::random_hex(2), 16).unwrap();
    let body = json!({"action": "account.move.post", "args": {"id": move_id}}).to_string();
    let signature = hmac_hex(b"not-the-secret", body.as_bytes());
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    let json = r.json();
    assert_eq!(
        (r.status, json["error"].as_str()),
        (401, Some("unauthorized")),
        "{json}"
    );
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from odoo_action_outbox where args->>'id' = '{move_id}'"
        )),
        "0"
    );
}

#[test]
fn push_direct_call_without_action_is_422_and_inserts_nothing() {
    let stack = stack::shared();
    let move_id = 800_000 + u32::from_str_radix(&stack::random_hex(2), 16).unwrap();
    let body = json!({"args": {"id": move_id}}).to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    let json = r.json();
    assert_eq!(
        (r.status, json["error"].as_str(), json["field"].as_str()),
        (422, Some("invalid_body"), Some("action"))
    );
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from odoo_action_outbox where args->>'id' = '{move_id}'"
        )),
        "0"
    );
}

fn assert_webhook_invalid(stack: &Stack, body: &[u8], row: &(i64, String), field: &str) {
    let auth = bearer(stack);
    let r = post(stack, PUSH, &[JSON, ("authorization", &auth)], body);
    let json = assert_push_refused(stack, row, &r, 422, "invalid_body");
    assert_eq!(json["field"], field, "{json}");
}

#[test]
fn push_webhook_for_another_table_is_422() {
    let stack = stack::shared();
    let row = account_move(&stack);
    assert_webhook_invalid(
        &stack,
        &webhook_body("INSERT", "audit_event", row.0),
        &row,
        "table",
    );
}

#[test]
fn push_webhook_of_type_truncate_is_422() {
    let stack = stack::shared();
    let row = account_move(&stack);
    assert_webhook_invalid(
        &stack,
        &webhook_body("TRUNCATE", "odoo_action_outbox", row.0),
        &row,
        "type",
    );
}

#[test]
fn push_webhook_without_record_id_is_422() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let body = json!({"type": "INSERT", "table": "odoo_action_outbox", "schema": "public", "record": {"status": "queued"}});
    assert_webhook_invalid(&stack, body.to_string().as_bytes(), &row, "record.id");
}

#[test]
fn push_webhook_with_malformed_json_is_400() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let auth = bearer(&stack);
    let body = format!(r#"{{"type":"INSERT","record":{{"id":{}"#, row.0);
    let r = post(
        &stack,
        PUSH,
        &[JSON, ("authorization", &auth)],
        body.as_bytes(),
    );
    assert_push_refused(&stack, &row, &r, 400, "invalid_json");
}

#[test]
fn push_text_plain_is_415() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let auth = bearer(&stack);
    let r = post(
        &stack,
        PUSH,
        &[("content-type", "text/plain"), ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    assert_push_refused(&stack, &row, &r, 415, "unsupported_media_type");
}

#[test]
fn push_get_is_405() {
    let stack = stack::shared();
    let r = send(&stack, "GET", &stack.edge_url(PUSH), &[], b"");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
}

#[test]
fn push_unknown_sub_route_is_404() {
    let stack = stack::shared();
    let row = account_move(&stack);
    let auth = bearer(&stack);
    let r = post(
        &stack,
        "/push_to_odoo/retry",
        &[JSON, ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    assert_push_refused(&stack, &row, &r, 404, "not_found");
}

// ---- push_to_odoo on stacks of their own ------------------------------------------------

#[test]
fn push_odoo_500_then_recovery_through_the_drain() {
    let stack = Stack::builder().start();
    stack.odoo.set_mode(OdooMode::Fail(500));
    let (id, correlation) = account_move(&stack);
    let r = push_webhook(&stack, id);
    let json = r.json();
    assert_eq!(
        (json["status"].as_str(), json["attempts"].as_u64()),
        (Some("queued"), Some(1)),
        "{json}"
    );
    assert!(json["next_attempt_at"].is_string());
    let state = outbox_state(&stack, id);
    assert!(
        state.starts_with("queued|1|false|true|odoo answered 500"),
        "{state}"
    );
    assert_eq!(
        stack.sql(&format!(
            "select next_attempt_at > now() + interval '10 seconds' and next_attempt_at <= now() + interval '31 seconds' from odoo_action_outbox where id = {id}"
        )),
        "t",
        "the first retry waits 15 to 30 seconds"
    );

    // Not due yet: the drain leaves it alone.
    stack.odoo.set_mode(OdooMode::Ok);
    assert_eq!(drain(&stack), json!({"count": 0, "rows": []}));
    assert_eq!(odoo_calls(&stack, &correlation).len(), 1);

    // Once due, the drain pushes it again and Odoo applies it.
    make_due(&stack, id);
    let drained = drain(&stack);
    assert_eq!(
        drained,
        json!({"count": 1, "rows": [{"id": id, "claimed": true, "status": "applied", "attempts": 2}]})
    );
    assert_eq!(outbox_state(&stack, id), "applied|2|false|false|");
    let calls = odoo_calls(&stack, &correlation);
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [500, 200]
    );
    assert_logs_clean(&stack);
}

#[test]
fn push_odoo_4xx_is_a_permanent_error() {
    let stack = Stack::builder().start();
    stack.odoo.set_mode(OdooMode::Fail(422));
    let (id, correlation) = account_move(&stack);
    let json = push_webhook(&stack, id).json();
    assert_eq!(json["status"], "error");
    let state = outbox_state(&stack, id);
    assert!(
        state.starts_with("error|1|false|true|odoo answered 422: told to fail with 422"),
        "{state}"
    );
    // A permanent error is never drained again.
    make_due(&stack, id);
    assert_eq!(drain(&stack)["count"], 0);
    assert_eq!(odoo_calls(&stack, &correlation).len(), 1);
    assert_logs_clean(&stack);
}

#[test]
fn push_odoo_timeout_puts_the_row_back() {
    let stack = Stack::builder().variable("ODOO_TIMEOUT_MS", "500").start();
    stack.odoo.set_mode(OdooMode::Slow(Duration::from_secs(3)));
    let (id, _) = account_move(&stack);
    let json = push_webhook(&stack, id).json();
    assert_eq!(json["status"], "queued", "{json}");
    assert_eq!(
        outbox_state(&stack, id),
        "queued|1|false|true|odoo did not answer within 500 ms"
    );
    assert_logs_clean(&stack);
}

#[test]
fn push_odoo_dropping_the_connection_puts_the_row_back() {
    let stack = Stack::builder().start();
    stack.odoo.set_mode(OdooMode::Drop);
    let (id, _) = account_move(&stack);
    let json = push_webhook(&stack, id).json();
    assert_eq!(json["status"], "queued", "{json}");
    assert!(outbox_state(&stack, id).starts_with("queued|1|false|true|odoo unreachable"));
}

#[test]
fn push_max_attempts_ends_in_error() {
    let stack = Stack::builder()
        .variable("OUTBOX_MAX_ATTEMPTS", "2")
        .start();
    stack.odoo.set_mode(OdooMode::Fail(503));
    let (id, correlation) = account_move(&stack);
    assert_eq!(push_webhook(&stack, id).json()["status"], "queued");
    make_due(&stack, id);
    let drained = drain(&stack);
    assert_eq!(drained["rows"][0]["status"], "error", "{drained}");
    let state = outbox_state(&stack, id);
    assert!(
        state.starts_with("error|2|false|true|gave up after 2 attempts: odoo answered 503"),
        "{state}"
    );
    make_due(&stack, id);
    assert_eq!(drain(&stack)["count"], 0);
    assert_eq!(odoo_calls(&stack, &correlation).len(), 2);
}

#[test]
fn drain_takes_due_rows_oldest_first_in_bounded_batches() {
    let stack = Stack::builder().variable("OUTBOX_DRAIN_LIMIT", "2").start();
    let rows: Vec<(i64, String)> = (0..3).map(|_| account_move(&stack)).collect();
    for row in &rows {
        make_due(&stack, row.0);
    }
    let later = account_move(&stack);
    stack.sql(&format!(
        "update odoo_action_outbox set next_attempt_at = now() + interval '1 hour' where id = {}",
        later.0
    ));
    let first = drain(&stack);
    let ids: Vec<i64> = first["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [rows[0].0, rows[1].0]);
    assert_eq!(outbox_state(&stack, rows[2].0), "queued|0|true|true|");
    let second = drain(&stack);
    assert_eq!(second["rows"][0]["id"], rows[2].0);
    assert_eq!(second["count"], 1, "the row due in an hour waits");
    assert_eq!(outbox_state(&stack, later.0), "queued|0|true|true|");
    for row in &rows {
        assert_eq!(outbox_state(&stack, row.0), "applied|1|false|false|");
    }
}

#[test]
fn drain_recovers_rows_stuck_in_sent_after_the_lease() {
    let stack = Stack::builder().variable("OUTBOX_LEASE_SECS", "60").start();
    let stuck = account_move(&stack);
    let fresh = account_move(&stack);
    stack.sql(&format!(
        "update odoo_action_outbox set status = 'sent', sent_at = now() - interval '2 minutes' where id = {}; \
         update odoo_action_outbox set status = 'sent', sent_at = now() - interval '10 seconds' where id = {}",
        stuck.0, fresh.0
    ));
    let drained = drain(&stack);
    assert_eq!(
        drained,
        json!({"count": 1, "rows": [{"id": stuck.0, "claimed": true, "status": "applied", "attempts": 1}]})
    );
    assert_eq!(
        stack.sql(&format!(
            "select status from odoo_action_outbox where id = {}",
            fresh.0
        )),
        "sent",
        "a delivery still inside its lease is left alone"
    );
    assert!(odoo_calls(&stack, &fresh.1).is_empty());
}

#[test]
fn push_with_postgrest_down_is_503_and_odoo_is_not_called() {
    let mut stack = Stack::builder().start();
    let (id, correlation) = account_move(&stack);
    stack.stop_postgrest();
    let r = push_webhook(&stack, id);
    let json = r.json();
    assert_eq!(
        (r.status, json["error"].as_str()),
        (503, Some("store_unavailable")),
        "{json}"
    );
    assert!(r.header("retry-after").is_some());
    assert!(odoo_calls(&stack, &correlation).is_empty());
    assert_eq!(outbox_state(&stack, id), "queued|0|true|true|");
    let auth = bearer(&stack);
    assert_eq!(
        post(&stack, DRAIN, &[("authorization", &auth)], b"").status,
        503
    );
    assert_logs_clean(&stack);
}

#[test]
fn secrets_never_reach_the_logs() {
    let stack = Stack::builder()
        .variable("REALTIME_CHANNEL", "odoo-events")
        .start();
    // Successes, a failed Realtime broadcast (the local SUPABASE_URL has no Realtime),
    // refusals of every kind, and Odoo failures.
    assert_eq!(
        ingest_signed(&stack, &event(&unique("log")).to_string()).status,
        201
    );
    ingest_signed(&stack, r#"{"event_type":"#);
    post(&stack, INGEST, &[JSON, ("x-signature", "00")], b"{}");
    let (id, _) = account_move(&stack);
    stack.odoo.set_mode(OdooMode::Fail(401));
    push_webhook(&stack, id);
    let (id, _) = account_move(&stack);
    stack.odoo.set_mode(OdooMode::Fail(500));
    push_webhook(&stack, id);
    post(
        &stack,
        PUSH,
        &[JSON, ("authorization", "Bearer wrong")],
        b"{}",
    );
    post(&stack, DRAIN, &[("authorization", "Basic x")], b"");
    let logs = stack.edge_logs();
    assert!(logs.contains("realtime broadcast failed"), "{logs}");
    assert!(logs.contains("push_to_odoo refused a request"), "{logs}");
    assert_logs_clean(&stack);
}

// ---- the Workers builds under workerd --------------------------------------------------

fn workerd_post(
    stack: &Stack,
    service: &pulser_tests::Service,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Exchange {
    send(stack, "POST", &service.url(path), headers, body)
}

#[test]
fn workers_ingest_stores_a_signed_event() {
    let stack: Arc<Stack> = stack::shared();
    let worker = stack.workerd("odoo_event_ingest");
    let marker = unique("wk");
    let body = event(&marker).to_string();
    let signature = hex_signature(&stack, body.as_bytes());
    let r = workerd_post(
        &stack,
        &worker,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_eq!(
        r.status,
        201,
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        worker.logs()
    );
    assert_eq!(audit_rows(&stack, &marker), 1);
    assert_no_secret(&stack, "workerd's log", &worker.logs());
}

#[test]
fn workers_ingest_refuses_a_bad_signature() {
    let stack = stack::shared();
    let worker = stack.workerd("odoo_event_ingest");
    let marker = unique("wkbad");
    let body = event(&marker).to_string();
    let signature = hmac_hex(b"not-the-secret", body.as_bytes());
    let r = workerd_post(
        &stack,
        &worker,
        INGEST,
        &[JSON, ("x-signature", &signature)],
        body.as_bytes(),
    );
    assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
    assert_no_secret(&stack, "workerd's log", &worker.logs());
}

#[test]
fn workers_push_applies_a_row() {
    let stack = stack::shared();
    let worker = stack.workerd("push_to_odoo");
    let (id, correlation) = account_move(&stack);
    let auth = bearer(&stack);
    let r = workerd_post(
        &stack,
        &worker,
        PUSH,
        &[JSON, ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", id),
    );
    assert_eq!(
        r.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        worker.logs()
    );
    assert_eq!(r.json()["status"], "applied");
    assert_eq!(outbox_state(&stack, id), "applied|1|false|false|");
    assert_eq!(odoo_calls(&stack, &correlation).len(), 1);
    assert_no_secret(&stack, "workerd's log", &worker.logs());
}

#[test]
fn workers_push_refuses_a_wrong_bearer() {
    let stack = stack::shared();
    let worker = stack.workerd("push_to_odoo");
    let row = account_move(&stack);
    let r = workerd_post(
        &stack,
        &worker,
        PUSH,
        &[JSON, ("authorization", "Bearer wrong")],
        &webhook_body("INSERT", "odoo_action_outbox", row.0),
    );
    assert_push_refused(&stack, &row, &r, 401, "unauthorized");
}

// ---- the README's signing example -------------------------------------------------------

/// The Python block that follows the `odoo-signing-example` marker in README.md.
fn readme_signing_example() -> String {
    let readme = std::fs::read_to_string(stack::project_root().join("README.md")).unwrap();
    let after = readme
        .split_once("<!-- odoo-signing-example")
        .expect("README.md has the odoo-signing-example marker")
        .1;
    let code = after
        .split_once("```python\n")
        .expect("a python block follows the marker")
        .1;
    code.split_once("```")
        .expect("the block is closed")
        .0
        .to_owned()
}

#[test]
fn readme_signing_example_is_accepted() {
    let stack = stack::shared();
    let event_id = unique("readme");
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(readme_signing_example())
        .env("EDGE_URL", stack.edge_url(""))
        .env("EDGE_HMAC_SECRET", stack.var("EDGE_HMAC_SECRET"))
        .env("EVENT_ID", &event_id)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for this test (apt-get install python3): {e}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.starts_with("201 "),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from audit_event where event_id = '{event_id}'"
        )),
        "1"
    );
}
