#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `push_to_odoo` end to end on the cell's runtime (`PULSER_CELL`, see `pulser_tests::cell`)
//! against real PostgreSQL 15 + PostgREST 12 and the strict Odoo stand-in, fed by the
//! Database Webhook, direct signed calls and the pg_cron drain.
//!
//! Tests that never change the stand-in's mode or the variables share one stack and keep
//! apart by unique markers (outbox rows, action args). Anything that fails Odoo, stops
//! PostgREST, sets a variable or drains the outbox (which would take other tests' rows)
//! starts a stack of its own.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use std::time::Duration;

use base64::Engine as _;
use pulser_tests::bridge::{
    DRAIN, PUSH, account_move, bearer, edge_secret, idempotency_key, outbox_row, push_webhook,
    webhook_body,
};
use pulser_tests::e2e::{JSON, Scheme, assert_logs_clean, post, post_signed, send, unique};
use pulser_tests::stack::{self, OdooMode, Stack};
use pulser_tests::{Exchange, hmac_hex};
use serde_json::{Value, json};

/// `status|attempts|sent_at is null|applied_at is null|last_error`.
fn outbox_state(stack: &Stack, id: i64) -> String {
    stack.sql(&format!(
        "select status || '|' || attempts || '|' || (sent_at is null) || '|' || (applied_at is null) || '|' || coalesce(last_error, '') from odoo_action_outbox where id = {id}"
    ))
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

// ---- on the shared stack (Odoo answers 200; nothing drains) -----------------------------

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
    let key = idempotency_key(&stack, id);
    assert_eq!(
        calls[0].json(),
        json!({"action": "account.move.post", "args": serde_json::from_str::<Value>(&args).unwrap(), "correlation_id": correlation, "idempotency_key": key})
    );
    assert_eq!(calls[0].header("idempotency-key"), Some(key.as_str()));
    assert_eq!(calls[0].header("webhook-id"), Some(key.as_str()));
    // Framed by its length, never chunked: some proxies in front of Odoo refuse chunked bodies.
    let length = calls[0].body.len().to_string();
    assert_eq!(calls[0].header("content-length"), Some(length.as_str()));
    assert_eq!(calls[0].header("transfer-encoding"), None);
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
    let body = json!({"action": "account.move.post", "args": {"id": move_id}, "request_id": unique("odoo-call")}).to_string();
    let r = post_signed(
        &stack,
        &stack.url(PUSH),
        &edge_secret(&stack),
        Scheme::Hex,
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

/// Outbox rows and Odoo effects of one direct call, by its request id.
fn direct_effects(stack: &Stack, request_id: &str) -> (String, usize) {
    let rows = stack.sql(&format!(
        "select count(*) || '|' || coalesce(min(status), '') from odoo_action_outbox where request_id = '{request_id}'"
    ));
    let key = stack.sql(&format!(
        "select coalesce(min(idempotency_key::text), '') from odoo_action_outbox where request_id = '{request_id}'"
    ));
    let effects = stack.odoo.effects().iter().filter(|k| **k == key).count();
    (rows, effects)
}

/// A hex-signed call captured and replayed later (or a caller retrying it) finds its row
/// through `request_id`: one row, one effect in Odoo, the replay answered as a duplicate.
#[test]
fn push_direct_call_replayed_later_takes_effect_once() {
    let stack = stack::shared();
    let request_id = unique("odoo-call");
    let body =
        json!({"action": "account.move.post", "args": {"id": 4242}, "request_id": request_id})
            .to_string();
    let send_it = || {
        post_signed(
            &stack,
            &stack.url(PUSH),
            &edge_secret(&stack),
            Scheme::Hex,
            body.as_bytes(),
        )
    };
    let first = send_it();
    assert_eq!(
        first.json()["status"],
        "applied",
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let replay = send_it();
    let json = replay.json();
    assert_eq!(
        (replay.status, &json["duplicate"], &json["claimed"]),
        (200, &json!(true), &json!(false)),
        "{json}"
    );
    assert_eq!(json["id"], first.json()["id"]);
    assert_eq!(
        direct_effects(&stack, &request_id),
        ("1|applied".to_owned(), 1)
    );
}

/// A Standard Webhooks redelivery (same `webhook-id`, a fresh timestamp and signature) is the
/// same call.
#[test]
fn push_standard_webhooks_redelivery_takes_effect_once() {
    let stack = stack::shared();
    let webhook_id = unique("msg");
    let body = json!({"action": "account.move.post", "args": {"id": 4343}}).to_string();
    let now = pulser_tests::clock::unix_now();
    for timestamp in [now - 60, now] {
        let r = post_signed(
            &stack,
            &stack.url(PUSH),
            &edge_secret(&stack),
            Scheme::StandardWebhooks {
                id: &webhook_id,
                timestamp,
            },
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let request_id = format!("webhook:{webhook_id}");
    assert_eq!(
        direct_effects(&stack, &request_id),
        ("1|applied".to_owned(), 1)
    );
}

/// What push_to_odoo sent Odoo, captured in front of Odoo and sent back to the edge, verifies
/// nowhere: the outbound leg signs with ODOO_SIGNING_SECRET, which no inbound leg accepts.
#[test]
fn push_request_reflected_from_odoo_back_to_the_edge_is_refused() {
    let stack = stack::shared();
    let (id, correlation) = account_move(&stack);
    assert_eq!(push_webhook(&stack, id).json()["status"], "applied");
    let captured = odoo_calls(&stack, &correlation).remove(0);
    let headers: Vec<(&str, &str)> = [
        "content-type",
        "x-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "idempotency-key",
    ]
    .into_iter()
    .filter_map(|name| Some((name, captured.header(name)?)))
    .collect();
    assert_eq!(
        headers.len(),
        6,
        "the captured call carries both signatures"
    );
    for route in [PUSH, pulser_tests::bridge::INGEST] {
        let r = post(&stack, route, &headers, &captured.body);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (401, Some("unauthorized")),
            "{route}"
        );
        // The same bytes with only the hex signature: refused too.
        let hex_only = [headers[0], headers[1]];
        assert_eq!(
            post(&stack, route, &hex_only, &captured.body).status,
            401,
            "{route}"
        );
    }
    assert_eq!(odoo_calls(&stack, &correlation).len(), 1);
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
    let body = json!({"args": {"id": move_id}, "request_id": unique("odoo-call")}).to_string();
    let r = post_signed(
        &stack,
        &stack.url(PUSH),
        &edge_secret(&stack),
        Scheme::Hex,
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
    let r = send(&stack, "GET", &stack.url(PUSH), &[], b"");
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

// ---- on stacks of their own --------------------------------------------------------------

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
fn push_odoo_refusing_the_caller_pauses_the_row_without_using_an_attempt() {
    let stack = Stack::builder().start();
    stack.odoo.set_mode(OdooMode::Fail(401));
    let (id, correlation) = account_move(&stack);
    let json = push_webhook(&stack, id).json();
    assert_eq!(
        (json["status"].as_str(), json["attempts"].as_u64()),
        (Some("queued"), Some(0)),
        "{json}"
    );
    let state = outbox_state(&stack, id);
    assert!(
        state.starts_with("queued|0|false|true|destination paused: odoo answered 401"),
        "{state}"
    );
    assert!(stack.logs().contains("the outbox is paused"));
    let health = || send(&stack, "GET", &stack.url("/push_to_odoo/health"), &[], b"").json();
    assert_eq!(
        health()["destination"]["paused"],
        true,
        "the health answer says so too"
    );
    // Once the operator fixes the token, the row goes through on its first counted attempt.
    stack.odoo.set_mode(OdooMode::Ok);
    make_due(&stack, id);
    assert_eq!(drain(&stack)["rows"][0]["status"], "applied");
    assert_eq!(outbox_state(&stack, id), "applied|1|false|false|");
    assert_eq!(odoo_calls(&stack, &correlation).len(), 2);
    assert_eq!(health()["destination"], json!({"paused": false}));
    assert_logs_clean(&stack);
}

/// Odoo answering a redirect: `push_url` pushes one row; the 3xx is the answer (the row
/// waits, paused), and nothing reaches the redirect's target.
fn assert_odoo_redirect_is_not_followed(stack: &Stack, push_url: &str, logs: impl Fn() -> String) {
    stack.odoo.set_mode(OdooMode::Redirect(307));
    let (id, correlation) = account_move(stack);
    let auth = bearer(stack);
    let r = send(
        stack,
        "POST",
        push_url,
        &[JSON, ("authorization", &auth)],
        &webhook_body("INSERT", "odoo_action_outbox", id),
    );
    assert_eq!(
        r.json()["status"],
        "queued",
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        logs()
    );
    let state = outbox_state(stack, id);
    assert!(
        state.starts_with("queued|0|false|true|destination paused: odoo answered 307"),
        "{state}"
    );
    let calls = stack.odoo.calls();
    assert!(
        calls.iter().all(|c| !c.path.starts_with("/elsewhere")),
        "the redirect was followed: {:?}",
        calls.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    assert_eq!(odoo_calls(stack, &correlation).len(), 1);
}

/// (workerd's fetch follows redirects unless told not to: the Workers build says `manual`.)
#[test]
fn push_odoo_redirect_is_an_answer_not_followed() {
    let stack = Stack::builder().start();
    let url = stack.url(PUSH);
    assert_odoo_redirect_is_not_followed(&stack, &url, || stack.logs());
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
fn push_applied_but_the_answer_lost_is_retried_and_takes_effect_once() {
    let stack = Stack::builder().start();
    stack.odoo.set_mode(OdooMode::ApplyThenDrop);
    let (id, correlation) = account_move(&stack);
    let key = idempotency_key(&stack, id);
    // Odoo applied it, but the answer never arrived: the row goes back to the queue.
    assert_eq!(push_webhook(&stack, id).json()["status"], "queued");
    assert_eq!(stack.odoo.effects(), std::slice::from_ref(&key));

    // The retry carries the same key, so Odoo answers "duplicate" and applies nothing again.
    stack.odoo.set_mode(OdooMode::Ok);
    make_due(&stack, id);
    assert_eq!(drain(&stack)["rows"][0]["status"], "applied");
    assert_eq!(outbox_state(&stack, id), "applied|2|false|false|");
    let calls = odoo_calls(&stack, &correlation);
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.header("idempotency-key") == Some(key.as_str()))
    );
    assert_eq!(stack.odoo.effects(), [key], "one effect for two deliveries");
    assert_logs_clean(&stack);
}

#[test]
fn push_outcome_after_a_newer_claim_is_not_recorded_over_it() {
    let stack = Stack::builder().start();
    stack
        .odoo
        .set_mode(OdooMode::Slow(Duration::from_millis(1500)));
    let (id, _) = account_move(&stack);
    let late = std::thread::scope(|scope| {
        let delivery = scope.spawn(|| push_webhook(&stack, id));
        // While the first delivery waits on Odoo, a newer claim takes the row (its lease
        // passed): that claim writes its own sent_at, the token the first one's outcome lacks.
        std::thread::sleep(Duration::from_millis(500));
        stack.sql(&format!(
            "update odoo_action_outbox set sent_at = sent_at + interval '30 seconds' where id = {id} and status = 'sent'"
        ));
        delivery.join().unwrap()
    });
    let json = late.json();
    assert_eq!(
        (json["claimed"].as_bool(), json["recorded"].as_bool()),
        (Some(true), Some(false)),
        "{json}"
    );
    // The row is still the newer claim's: sent, no attempt and no outcome written over it.
    assert_eq!(outbox_state(&stack, id), "sent|0|false|true|");
    assert_logs_clean(&stack);
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
        // Two attempts: the delivery that let its lease expire, and this one.
        json!({"count": 1, "rows": [{"id": stuck.0, "claimed": true, "status": "applied", "attempts": 2}]})
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

/// The drain stops claiming once one more delivery might not end before PUSH_DEADLINE_MS: a
/// 20 s deadline with Odoo's 4 s timeout leaves room to start a delivery only while at most
/// 5 whole seconds have passed (1 s of clock grain + 2 x 5 s PostgREST + 4 s Odoo), and Odoo
/// takes 3 s per call: the second row starts after about 3 s (2 s of slack for a loaded
/// machine), the third after at least 6 s, so two of three rows are delivered and the third
/// is never claimed.
#[test]
fn drain_stops_claiming_when_one_more_delivery_would_pass_the_deadline() {
    let stack = Stack::builder()
        .variable("ODOO_TIMEOUT_MS", "4000")
        .variable("PUSH_DEADLINE_MS", "20000")
        .variable("OUTBOX_LEASE_SECS", "60")
        .start();
    stack.odoo.set_mode(OdooMode::Slow(Duration::from_secs(3)));
    let rows: Vec<(i64, String)> = (0..3).map(|_| account_move(&stack)).collect();
    for row in &rows {
        make_due(&stack, row.0);
    }
    let drained = drain(&stack);
    assert_eq!(drained["count"], 2, "{drained}");
    for row in &rows[..2] {
        assert_eq!(outbox_state(&stack, row.0), "applied|1|false|false|");
    }
    assert_eq!(
        outbox_state(&stack, rows[2].0),
        "queued|0|true|true|",
        "never claimed"
    );
    assert!(odoo_calls(&stack, &rows[2].1).is_empty());
    assert_eq!(stack.odoo.effects().len(), 2);
}

/// Deadlines that cannot hold a delivery are refused before anything is claimed.
#[test]
fn push_with_an_odoo_timeout_longer_than_the_deadline_allows_is_500_naming_it() {
    let stack = Stack::builder()
        .variable("ODOO_TIMEOUT_MS", "30000")
        .start();
    let (id, correlation) = account_move(&stack);
    let r = push_webhook(&stack, id);
    let json = r.json();
    assert_eq!(
        (r.status, json["error"].as_str(), json["name"].as_str()),
        (500, Some("invalid_config"), Some("ODOO_TIMEOUT_MS")),
        "{json}"
    );
    assert_eq!(outbox_state(&stack, id), "queued|0|true|true|");
    assert!(odoo_calls(&stack, &correlation).is_empty());
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
        (503, Some(stack.cell().unreachable_write_error())),
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
