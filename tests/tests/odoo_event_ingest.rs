#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `odoo_event_ingest` end to end on the cell's runtime (`PULSER_CELL`, see
//! `pulser_tests::cell`) against real PostgreSQL 15 + PostgREST 12, signed the ways Odoo
//! signs (hex `x-signature`, Standard Webhooks), and the README's Python signing example.
//!
//! Tests that never change the variables share one stack and keep apart by unique markers
//! (resource ids, event ids). A test that stops PostgREST starts a stack of its own.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use pulser_tests::bridge::{INGEST, edge_secret, event, hex_signature, ingest_signed};
use pulser_tests::e2e::{
    JSON, Scheme, assert_logs_clean, pairs, post, send, signed_headers, unique,
};
use pulser_tests::stack::{self, Stack};
use pulser_tests::{Exchange, hmac_hex};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The key ingest derives for the event at `index` of a hex-signed `body` without
/// `event_id`, computed here with the sha2 crate (an oracle independent of pulser-signing).
fn body_key(body: &str, index: usize) -> String {
    format!("sha256:{:x}:{index}", Sha256::digest(body.as_bytes()))
}

/// `event_id` of every row of `marker`, in insertion order, comma-separated.
fn stored_keys(stack: &Stack, marker: &str) -> String {
    stack.sql(&format!(
        "select string_agg(event_id, ',' order by id) from audit_event where resource_id = '{marker}'"
    ))
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

// ---- on the shared stack --------------------------------------------------------------

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
    // Three identical events: their keys differ by their index in the batch.
    let batch = json!([event(&marker), event(&marker), event(&marker)]).to_string();
    let answer = ingest_signed(&stack, &batch);
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
    assert_eq!(
        stored_keys(&stack, &marker),
        (0..3)
            .map(|i| body_key(&batch, i))
            .collect::<Vec<_>>()
            .join(",")
    );
}

#[test]
fn ingest_hex_signed_event_without_event_id_sent_twice_is_stored_once() {
    let stack = stack::shared();
    let marker = unique("hexretry");
    let body = event(&marker).to_string();
    let first = ingest_signed(&stack, &body);
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = ingest_signed(&stack, &body);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let json = again.json();
    assert_eq!(json["duplicate"], true);
    assert_eq!(json["event_id"], body_key(&body, 0).as_str());
    assert_eq!(audit_rows(&stack, &marker), 1);
    assert_eq!(stored_keys(&stack, &marker), body_key(&body, 0));
}

#[test]
fn ingest_same_event_id_twice_in_one_batch_stores_the_first() {
    let stack = stack::shared();
    let marker = unique("twice");
    let event_id = unique("evt");
    let mut first = event(&marker);
    first["event_id"] = json!(event_id);
    first["payload"] = json!({"which": "first"});
    let mut second = first.clone();
    second["payload"] = json!({"which": "second"});
    let answer = ingest_signed(&stack, &json!([first, event(&marker), second]).to_string());
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let items = answer.json();
    assert!(items[0]["id"].is_i64(), "{items}");
    assert!(items[1]["id"].is_i64(), "{items}");
    assert_eq!(items[2]["duplicate"], true, "{items}");
    assert_eq!(items[2]["event_id"], event_id.as_str());
    assert_eq!(audit_rows(&stack, &marker), 2);
    assert_eq!(
        stack.sql(&format!(
            "select id || '|' || (payload->>'which') from audit_event where event_id = '{event_id}'"
        )),
        format!("{}|first", items[0]["id"])
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
    let delivery = |timestamp: i64| {
        let headers = signed_headers(
            &edge_secret(&stack),
            Scheme::StandardWebhooks { id: &id, timestamp },
            body.as_bytes(),
        );
        post(&stack, INGEST, &pairs(&headers), body.as_bytes())
    };
    let now = pulser_tests::clock::unix_now();
    let first = delivery(now - 30);
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    // A redelivery: the same webhook-id, a new timestamp and so a new signature.
    let again = delivery(now);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let key = format!("webhook:{id}:0");
    assert_eq!(again.json()["event_id"], key.as_str());
    assert_eq!(audit_rows(&stack, &marker), 1);
    assert_eq!(stored_keys(&stack, &marker), key);
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
    let id = unique("msg");
    let headers = signed_headers(
        &edge_secret(&stack),
        Scheme::StandardWebhooks {
            id: &id,
            timestamp: pulser_tests::clock::unix_now() - 600,
        },
        body.as_bytes(),
    );
    let r = post(&stack, INGEST, &pairs(&headers), body.as_bytes());
    let json = assert_ingest_refused(&stack, &marker, &r, 401, "unauthorized");
    assert_eq!(json["header"], "webhook-timestamp");
}

#[test]
fn ingest_get_is_405() {
    let stack = stack::shared();
    let r = send(&stack, "GET", &stack.url(INGEST), &[], b"");
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

/// One invalid request body: what is wrong, the body around a marker, and the field (and
/// batch index) the 422 must name.
type Invalid = (&'static str, fn(&str) -> Value, &'static str, Option<u64>);

const INVALID: [Invalid; 14] = [
    (
        "missing event_type",
        |m| without(event(m), "event_type"),
        "event_type",
        None,
    ),
    (
        "event_type over 200 characters",
        |m| with(event(m), "event_type", json!("e".repeat(201))),
        "event_type",
        None,
    ),
    (
        "boolean resource_id",
        |m| json!({"event_type": "t", "resource_id": true, "payload": {"marker": m}}),
        "resource_id",
        None,
    ),
    (
        "payload not an object",
        |m| with(event(m), "payload", json!([1, 2])),
        "payload",
        None,
    ),
    (
        "correlation_id not a UUID",
        |m| with(event(m), "correlation_id", json!("odoo-42")),
        "correlation_id",
        None,
    ),
    (
        "impossible occurred_at",
        |m| with(event(m), "occurred_at", json!("2026-02-30T10:00:00Z")),
        "occurred_at",
        None,
    ),
    (
        "a bad event in a batch (its index is named, none is stored)",
        |m| json!([event(m), event(m), with(event(m), "payload", json!("nope"))]),
        "payload",
        Some(2),
    ),
    (
        "event_id with the reserved webhook: prefix",
        |m| with(event(m), "event_id", json!("webhook:x")),
        "event_id",
        None,
    ),
    (
        "event_id with the reserved sha256: prefix in a batch",
        |m| {
            json!([
                event(m),
                with(event(m), "event_id", json!(format!("sha256:{m}:0")))
            ])
        },
        "event_id",
        Some(1),
    ),
    // Values PostgreSQL itself refuses: before the checks, a 502 (or a 503 retried forever).
    (
        "a NUL in the payload",
        |m| with(event(m), "payload", json!({"note": "a\0b"})),
        "payload",
        None,
    ),
    (
        "an occurred_at offset beyond PostgreSQL's +-15:59",
        |m| with(event(m), "occurred_at", json!("2026-11-23T10:00:00+16:00")),
        "occurred_at",
        None,
    ),
    (
        "unix seconds past the year 9999",
        |m| with(event(m), "occurred_at", json!(253_402_300_800u64)),
        "occurred_at",
        None,
    ),
    (
        "a NUL in the event_id",
        |m| with(event(m), "event_id", json!("id\0")),
        "event_id",
        None,
    ),
    (
        "a batch of 501",
        |m| Value::Array(vec![event(m); 501]),
        "body",
        None,
    ),
];

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn without(mut body: Value, key: &str) -> Value {
    body.as_object_mut().unwrap().remove(key);
    body
}

#[test]
fn ingest_invalid_bodies_are_422_naming_the_field_and_store_nothing() {
    for (what, body, field, index) in INVALID {
        let marker = unique("invalid");
        eprintln!("case: {what}");
        assert_ingest_invalid(&body(&marker), &marker, field, index);
    }
}

#[test]
fn ingest_empty_batch_is_422() {
    let stack = stack::shared();
    let r = ingest_signed(&stack, "[]");
    assert_eq!((r.status, r.json()["field"].as_str()), (422, Some("body")));
}

// ---- on a stack of its own ------------------------------------------------------------

#[test]
fn ingest_with_postgrest_down_is_503_and_stores_nothing() {
    let mut stack = Stack::builder().start();
    stack.stop_postgrest();
    let marker = unique("down");
    let r = ingest_signed(&stack, &event(&marker).to_string());
    let body = r.json();
    assert_eq!(
        (r.status, body["error"].as_str()),
        (503, Some(stack.cell().unreachable_write_error())),
        "{body}"
    );
    assert!(r.header("retry-after").is_some());
    assert!(body.get("id").is_none());
    assert_eq!(audit_rows(&stack, &marker), 0);
    assert_logs_clean(&stack);
}

// ---- the README's signing example -------------------------------------------------------

#[test]
fn readme_signing_example_is_accepted() {
    let stack = stack::shared();
    let event_id = unique("readme");
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(pulser_tests::e2e::readme_block(
            "odoo-signing-example",
            "python",
        ))
        .env("EDGE_URL", stack.origin(INGEST))
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
