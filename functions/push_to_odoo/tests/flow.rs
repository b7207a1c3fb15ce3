#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! The whole handler on a scripted platform: fixed clock, counter randomness, exact
//! PostgREST and Odoo requests, captured logs.

use core::time::Duration;

use pulser_runtime::OutboundError;
use pulser_runtime::testing::{FakePlatform, Sent, block_on};
use pulser_signing::Secret;
use push_to_odoo::handle;
use serde_json::{Value, json};

const NOW: u64 = 1_795_428_000; // 2026-11-23T10:00:00Z
/// Signs requests to Odoo (`ODOO_SIGNING_SECRET`).
const SIGN_SECRET: &str = "sign-secret-012345";
/// Verifies direct calls (`EDGE_HMAC_SECRET`, with [`OLD_SECRET`]).
const INBOUND_SECRET: &str = "inbound-secret-0123";
const OLD_SECRET: &str = "old-secret-0123456";
const ODOO_TOKEN: &str = "odoo-token";
const SERVICE_KEY: &str = "service-role-key";
const WEBHOOK_TOKEN: &str = "webhook-token";
const ROW_CORRELATION: &str = "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11";
/// What FakePlatform's counter randomness yields as the first UUID (bytes 1..=16).
const FIRST_UUID: &str = "01020304-0506-4708-890a-0b0c0d0e0f10";
const REST: &str = "http://supabase.test/rest/v1";
const CLAIM_QUEUED_7: &str = "http://supabase.test/rest/v1/odoo_action_outbox?id=eq.7&status=eq.queued&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key";
const FINISH_7: &str = "http://supabase.test/rest/v1/odoo_action_outbox?id=eq.7&status=eq.sent&sent_at=eq.2026-11-23T10%3A00%3A00Z&select=id";
const CLAIM_BODY: &str = r#"{"sent_at":"2026-11-23T10:00:00Z","status":"sent"}"#;
/// The row's idempotency key.
const ROW_KEY: &str = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d";
/// The Odoo body for [`row`] and its signatures, computed independently with Python's hmac:
/// hex HMAC-SHA256 of the body, and Standard Webhooks over `{ROW_KEY}.{NOW}.{body}`, both
/// with sign-secret-012345.
const ODOO_BODY: &str = r#"{"action":"account.move.post","args":{"id":42},"correlation_id":"6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11","idempotency_key":"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}"#;
const ODOO_SIGNATURE: &str = "445de6d2fed85bf253f0aeda7c372faa732a6e39f4c70d4bf3b283eaff499b33";
const ODOO_STANDARD_SIGNATURE: &str = "v1,YmCf5bIajsywOEptxTHfyN8gNPJAXs/KEldydy2wN64=";

fn platform() -> FakePlatform {
    FakePlatform::new(NOW)
        .with_config(
            "EDGE_HMAC_SECRET",
            &format!("{INBOUND_SECRET},{OLD_SECRET}"),
        )
        .with_config("ODOO_SIGNING_SECRET", SIGN_SECRET)
        .with_config("ODOO_BASE_URL", "http://odoo.test")
        .with_config("ODOO_API_TOKEN", ODOO_TOKEN)
        .with_config("SUPABASE_URL", "http://supabase.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
        .with_config("PUSH_WEBHOOK_TOKEN", WEBHOOK_TOKEN)
}

fn row(action: &str, args: Value, attempts: u32) -> String {
    json!([{"id": 7, "action": action, "args": args, "attempts": attempts, "correlation_id": ROW_CORRELATION, "idempotency_key": ROW_KEY}])
        .to_string()
}

fn claimable() -> String {
    row("account.move.post", json!({"id": 42}), 0)
}

fn webhook_body(kind: &str, id: i64) -> String {
    json!({
        "type": kind, "table": "odoo_action_outbox", "schema": "public",
        "record": {"id": id, "action": "account.move.post", "args": {"id": 42}, "status": "queued", "attempts": 0},
        "old_record": null
    })
    .to_string()
}

fn request(path: &str, headers: &[(&str, &str)], body: &str) -> pulser_runtime::Request {
    let mut builder = http::Request::post(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn webhook(body: &str) -> pulser_runtime::Request {
    request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {WEBHOOK_TOKEN}")),
        ],
        body,
    )
}

fn insert_webhook() -> pulser_runtime::Request {
    webhook(&webhook_body("INSERT", 7))
}

fn drain_request() -> pulser_runtime::Request {
    request(
        "/push_to_odoo/drain",
        &[("authorization", &format!("Bearer {WEBHOOK_TOKEN}"))],
        "",
    )
}

fn signed(body: &str) -> pulser_runtime::Request {
    let signature = Secret::parse(INBOUND_SECRET)
        .unwrap()
        .sign_hex(body.as_bytes());
    request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("x-signature", signature.as_str()),
        ],
        body,
    )
}

fn run(p: &FakePlatform, request: pulser_runtime::Request) -> (u16, Value, http::HeaderMap) {
    let response = block_on(handle(request, p));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body()).expect("every answer is JSON");
    (status, body, headers)
}

fn text(sent: &Sent) -> String {
    String::from_utf8(sent.request.body().clone()).unwrap()
}

fn assert_postgrest_headers(sent: &Sent) {
    assert_eq!(sent.header("apikey"), Some(SERVICE_KEY));
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer service-role-key")
    );
    assert_eq!(sent.timeout, push_to_odoo::POSTGREST_TIMEOUT);
}

fn assert_odoo_call(sent: &Sent) {
    assert_eq!(sent.request.method(), http::Method::POST);
    assert_eq!(sent.url(), "http://odoo.test/api/agent/apply");
    assert_eq!(text(sent), ODOO_BODY);
    assert_eq!(sent.header("x-signature"), Some(ODOO_SIGNATURE));
    assert_eq!(sent.header("idempotency-key"), Some(ROW_KEY));
    assert_eq!(sent.header("webhook-id"), Some(ROW_KEY));
    assert_eq!(sent.header("webhook-timestamp"), Some("1795428000"));
    assert_eq!(
        sent.header("webhook-signature"),
        Some(ODOO_STANDARD_SIGNATURE)
    );
    assert_eq!(sent.header("x-api-key"), Some(ODOO_TOKEN));
    assert_eq!(sent.header("x-correlation-id"), Some(ROW_CORRELATION));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.timeout, Duration::from_secs(10));
}

/// An error answer, and not one outbound request.
fn assert_refused(
    p: &FakePlatform,
    request: pulser_runtime::Request,
    status: u16,
    code: &str,
) -> Value {
    let (got, body, headers) = run(p, request);
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].is_string());
    assert!(headers.contains_key("x-correlation-id"));
    assert!(
        p.sent().is_empty(),
        "nothing may be written or sent: {:?}",
        p.sent()
    );
    body
}

// ---- database webhook ------------------------------------------------------------------

#[test]
fn an_outcome_after_the_row_was_claimed_again_is_not_reported_as_the_rows_status() {
    // The finish is fenced by this claim's sent_at; another delivery's claim changed it, so
    // PostgREST updates nothing.
    let p = platform()
        .reply(200, &claimable())
        .reply(200, r#"{"ok":true}"#)
        .reply(200, "[]");
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!(status, 200);
    assert_eq!(body["claimed"], true);
    assert_eq!(body["recorded"], false);
    assert_eq!(body.get("status"), None, "{body}");
    assert_eq!(
        body["outcome"], "applied",
        "what this delivery saw, not the row's status"
    );
    assert!(body["message"].as_str().unwrap().contains("not recorded"));
    assert_eq!(p.sent()[2].url(), FINISH_7);
    assert!(
        p.logs()
            .iter()
            .any(|l| l.contains("claimed again while in flight"))
    );
}

#[test]
fn insert_webhook_claims_calls_odoo_and_records_applied() {
    let p = platform()
        .reply(200, &claimable())
        .reply(200, r#"{"ok":true}"#)
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, headers) = run(&p, insert_webhook());
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": 7, "claimed": true, "status": "applied", "attempts": 1})
    );
    assert_eq!(headers["x-correlation-id"], FIRST_UUID);

    let sent = p.sent();
    assert_eq!(sent.len(), 3);
    let claim = &sent[0];
    assert_eq!(claim.request.method(), http::Method::PATCH);
    assert_eq!(claim.url(), CLAIM_QUEUED_7);
    assert_eq!(claim.header("prefer"), Some("return=representation"));
    assert_eq!(text(claim), CLAIM_BODY);
    assert_postgrest_headers(claim);

    assert_odoo_call(&sent[1]);

    let finish = &sent[2];
    assert_eq!(finish.request.method(), http::Method::PATCH);
    assert_eq!(finish.url(), FINISH_7);
    assert_eq!(
        text(finish),
        r#"{"applied_at":"2026-11-23T10:00:00Z","attempts":1,"last_error":null,"status":"applied"}"#
    );
    assert_postgrest_headers(finish);
}

#[test]
fn partner_update_is_sent_with_its_values() {
    let p = platform()
        .reply(
            200,
            &row(
                "res.partner.update",
                json!({"id": 3, "values": {"email": "a@b.c"}}),
                0,
            ),
        )
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
    assert_eq!(
        p.sent()[1].json(),
        json!({"action": "res.partner.update", "args": {"id": 3, "values": {"email": "a@b.c"}}, "correlation_id": ROW_CORRELATION, "idempotency_key": ROW_KEY})
    );
}

#[test]
fn a_duplicate_webhook_claims_nothing_and_calls_nobody() {
    let p = platform().reply(200, "[]");
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!(status, 200);
    assert_eq!(body["claimed"], false);
    assert_eq!(body["id"], 7);
    assert_eq!(p.sent().len(), 1, "only the claim");
}

#[test]
fn update_and_delete_events_are_acknowledged_and_ignored() {
    for kind in ["UPDATE", "DELETE"] {
        let p = platform();
        let (status, body, _) = run(&p, webhook(&webhook_body(kind, 7)));
        assert_eq!(
            (status, body),
            (200, json!({"ignored": true, "type": kind}))
        );
        assert!(p.sent().is_empty());
    }
}

#[test]
fn odoo_500_puts_the_row_back_with_backoff() {
    let p = platform()
        .reply(200, &claimable())
        .reply(500, r#"{"error":"boom","message":"database locked"}"#)
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!(status, 200);
    // Jitter comes from the counter randomness after the correlation id's 16 bytes:
    // bytes 17..=20 little-endian, mod 16, on top of 15 s.
    assert_eq!(
        body,
        json!({"id": 7, "claimed": true, "status": "queued", "attempts": 1,
               "next_attempt_at": "2026-11-23T10:00:16Z", "last_error": "odoo answered 500: database locked"})
    );
    assert_eq!(
        text(&p.sent()[2]),
        r#"{"attempts":1,"last_error":"odoo answered 500: database locked","next_attempt_at":"2026-11-23T10:00:16Z","status":"queued"}"#
    );
}

#[test]
fn odoo_timeout_puts_the_row_back() {
    let p = platform()
        .reply(200, &claimable())
        .fail(OutboundError::Timeout)
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(body["status"], "queued");
    assert_eq!(body["last_error"], "odoo did not answer within 10000 ms");
}

#[test]
fn odoo_unreachable_puts_the_row_back() {
    let p = platform()
        .reply(200, &claimable())
        .fail(OutboundError::Connection("connection refused".into()))
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(body["status"], "queued");
}

#[test]
fn odoo_4xx_is_a_permanent_error() {
    let p = platform()
        .reply(200, &claimable())
        .reply(
            422,
            r#"{"error":"rejected","message":"move 42 is already posted"}"#,
        )
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(
        body,
        json!({"id": 7, "claimed": true, "status": "error", "attempts": 1,
               "last_error": "odoo answered 422: move 42 is already posted"})
    );
    assert_eq!(
        text(&p.sent()[2]),
        r#"{"attempts":1,"last_error":"odoo answered 422: move 42 is already posted","status":"error"}"#
    );
}

#[test]
fn the_eighth_transient_failure_is_final() {
    let p = platform()
        .reply(200, &row("account.move.post", json!({"id": 42}), 7))
        .reply(503, "")
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(body["status"], "error");
    assert_eq!(body["attempts"], 8);
    assert_eq!(
        body["last_error"],
        "gave up after 8 attempts: odoo answered 503: (empty body)"
    );
}

#[test]
fn max_attempts_is_configurable() {
    let p = platform()
        .with_config("OUTBOX_MAX_ATTEMPTS", "2")
        .reply(200, &row("account.move.post", json!({"id": 42}), 1))
        .reply(502, "")
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(
        (body["status"].as_str(), body["attempts"].as_u64()),
        (Some("error"), Some(2))
    );
}

#[test]
fn odoo_timeout_is_configurable() {
    let p = platform()
        .with_config("ODOO_TIMEOUT_MS", "1500")
        .reply(200, &claimable())
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    run(&p, insert_webhook());
    assert_eq!(p.sent()[1].timeout, Duration::from_millis(1500));
}

#[test]
fn an_unknown_action_is_an_error_and_odoo_is_not_called() {
    let p = platform()
        .reply(200, &row("res.users.unlink", json!({"id": 1}), 0))
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(body["status"], "error");
    assert_eq!(body["attempts"], 0);
    let sent = p.sent();
    assert_eq!(sent.len(), 2, "claim and finish, no Odoo call");
    assert_eq!(sent[1].url(), FINISH_7);
    assert_eq!(
        sent[1].json()["last_error"],
        "action `res.users.unlink` is not allowed (built in: account.move.post, res.partner.update; more through ODOO_ALLOWED_ACTIONS)"
    );
}

#[test]
fn bad_args_are_an_error_and_odoo_is_not_called() {
    let p = platform()
        .reply(200, &row("account.move.post", json!({"id": "42"}), 0))
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(
        body["last_error"],
        "account.move.post: args.id must be a positive integer"
    );
    assert_eq!(p.sent().len(), 2);
}

#[test]
fn configured_actions_are_pushed() {
    let p = platform()
        .with_config("ODOO_ALLOWED_ACTIONS", "sale.order.confirm")
        .reply(200, &row("sale.order.confirm", json!({"order": 5}), 0))
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    let (_, body, _) = run(&p, insert_webhook());
    assert_eq!(body["status"], "applied");
}

// ---- PostgREST failures ----------------------------------------------------------------

#[test]
fn postgrest_down_at_claim_is_503_and_odoo_is_not_called() {
    let p = platform().fail(OutboundError::Unreachable("connection-refused".into()));
    let (status, body, headers) = run(&p, insert_webhook());
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_unavailable"))
    );
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(p.sent().len(), 1);
}

/// A claim PostgREST may have committed: the row may now be `sent` under this claim, which
/// its lease recovers; the answer says the outcome is unknown, and Odoo is not called.
#[test]
fn a_claim_without_an_answer_is_an_unknown_outcome_and_odoo_is_not_called() {
    let p = platform().fail(OutboundError::Connection("reset".into()));
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_outcome_unknown"))
    );
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn postgrest_500_at_claim_is_503() {
    let p = platform().reply(500, "");
    assert_eq!(run(&p, insert_webhook()).0, 503);
}

#[test]
fn postgrest_refusing_the_claim_is_502() {
    let p = platform().reply(400, r#"{"message":"failed to parse filter"}"#);
    let (status, body, _) = run(&p, insert_webhook());
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("store_rejected"))
    );
}

#[test]
fn postgrest_down_when_recording_the_outcome_is_503_and_logged() {
    let p = platform()
        .reply(200, &claimable())
        .reply(200, "{}")
        .fail(OutboundError::Timeout);
    let (status, _, _) = run(&p, insert_webhook());
    assert_eq!(status, 503);
    assert!(
        p.logs()
            .iter()
            .any(|l| l.contains("stays sent until its lease")),
        "{:?}",
        p.logs()
    );
}

// ---- direct calls ----------------------------------------------------------------------

const CALL: &str = r#"{"action":"account.move.post","args":{"id":42},"request_id":"odoo-move-42"}"#;
const INSERT_DIRECT: &str =
    "http://supabase.test/rest/v1/odoo_action_outbox?on_conflict=request_id&select=id";
const LOOKUP_DIRECT: &str = "http://supabase.test/rest/v1/odoo_action_outbox?request_id=eq.odoo-move-42&action=eq.account.move.post&args=eq.%7B%22id%22%3A42%7D&select=id";

#[test]
fn a_direct_call_inserts_the_row_under_its_request_id_then_pushes_it() {
    let p = platform()
        .reply(201, r#"[{"id":7}]"#)
        .reply(200, &claimable())
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, signed(CALL));
    assert_eq!(status, 200);
    assert_eq!(body["status"], "applied");
    assert!(body.get("duplicate").is_none(), "{body}");
    let sent = p.sent();
    assert_eq!(sent.len(), 4);
    let insert = &sent[0];
    assert_eq!(insert.request.method(), http::Method::POST);
    assert_eq!(insert.url(), INSERT_DIRECT);
    assert_eq!(
        insert.header("prefer"),
        Some("resolution=ignore-duplicates,return=representation")
    );
    assert_eq!(
        text(insert),
        format!(
            r#"{{"action":"account.move.post","args":{{"id":42}},"correlation_id":"{FIRST_UUID}","request_id":"odoo-move-42"}}"#
        )
    );
    assert_postgrest_headers(insert);
    assert_eq!(sent[1].url(), CLAIM_QUEUED_7);
    assert_odoo_call(&sent[2]);
}

/// A replay (or the caller's retry) of a call whose row exists: nothing is inserted, and the
/// row is pushed only if it is still queued; here it was applied, so Odoo is not called.
#[test]
fn a_replayed_direct_call_inserts_nothing_and_calls_odoo_no_more() {
    let p = platform()
        .reply(201, "[]")
        .reply(200, r#"[{"id":7}]"#)
        .reply(200, "[]");
    let (status, body, _) = run(&p, signed(CALL));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["claimed"], false);
    let sent = p.sent();
    assert_eq!(sent.len(), 3, "insert, lookup, claim; no Odoo call");
    assert_eq!(sent[1].request.method(), http::Method::GET);
    assert_eq!(sent[1].url(), LOOKUP_DIRECT);
    assert_eq!(sent[2].url(), CLAIM_QUEUED_7);
}

/// The first call stored its row but died before claiming it: the retry delivers it, once.
#[test]
fn a_retried_direct_call_whose_row_is_still_queued_delivers_it() {
    let p = platform()
        .reply(201, "[]")
        .reply(200, r#"[{"id":7}]"#)
        .reply(200, &claimable())
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, signed(CALL));
    assert_eq!(
        (status, &body["status"], &body["duplicate"]),
        (200, &json!("applied"), &json!(true))
    );
    assert_odoo_call(&p.sent()[3]);
}

#[test]
fn a_request_id_already_used_for_another_call_is_422_and_odoo_is_not_called() {
    // The key is taken (the insert stored nothing), but not by this action and args.
    let p = platform().reply(201, "[]").reply(200, "[]");
    let (status, body, _) = run(&p, signed(CALL));
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_body"))
    );
    assert_eq!(body["field"], "request_id");
    assert_eq!(p.sent().len(), 2, "insert and lookup only");
}

#[test]
fn a_hex_signed_direct_call_without_request_id_is_422_saying_what_to_send() {
    let body = assert_refused(
        &platform(),
        signed(r#"{"action":"account.move.post","args":{"id":42}}"#),
        422,
        "invalid_body",
    );
    assert_eq!(body["field"], "request_id");
    assert!(
        body["message"].as_str().unwrap().contains("webhook-id"),
        "{body}"
    );
}

/// PostgREST may have stored the row it never answered for; the caller repeats the call and
/// the key finds that row.
#[test]
fn a_direct_call_insert_without_an_answer_is_an_unknown_outcome() {
    let p = platform().fail(OutboundError::Timeout);
    let (status, body, headers) = run(&p, signed(CALL));
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_outcome_unknown"))
    );
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn a_direct_call_keeps_its_correlation_id() {
    let call = format!(
        r#"{{"action":"account.move.post","args":{{"id":42}},"request_id":"r1","correlation_id":"{ROW_CORRELATION}"}}"#
    );
    let p = platform().reply(201, r#"[{"id":7}]"#).reply(200, "[]");
    run(&p, signed(&call));
    assert_eq!(p.sent()[0].json()["correlation_id"], ROW_CORRELATION);
}

#[test]
fn a_direct_call_signed_with_the_old_secret_is_accepted() {
    let signature = Secret::parse(OLD_SECRET).unwrap().sign_hex(CALL.as_bytes());
    let p = platform().reply(201, r#"[{"id":7}]"#).reply(200, "[]");
    let request = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("x-signature", &signature.prefixed()),
        ],
        CALL,
    );
    assert_eq!(run(&p, request).0, 200);
}

fn standard_webhooks(secret: &str, id: &str, call: &str) -> pulser_runtime::Request {
    use base64::Engine as _;
    let mac = Secret::parse(secret)
        .unwrap()
        .sign(format!("{id}.{NOW}.{call}").as_bytes());
    let signature = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    );
    request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", &NOW.to_string()),
            ("webhook-signature", &signature),
        ],
        call,
    )
}

/// Under Standard Webhooks the verified `webhook-id` is the key, in its own namespace.
#[test]
fn a_direct_call_with_standard_webhooks_is_keyed_by_its_webhook_id() {
    let call = r#"{"action":"account.move.post","args":{"id":42}}"#;
    let p = platform().reply(201, r#"[{"id":7}]"#).reply(200, "[]");
    assert_eq!(
        run(&p, standard_webhooks(INBOUND_SECRET, "msg_1", call)).0,
        200
    );
    assert_eq!(p.sent()[0].json()["request_id"], "webhook:msg_1");
}

/// What push_to_odoo sends Odoo is signed with ODOO_SIGNING_SECRET, which never verifies
/// inbound: a request captured in front of Odoo and sent back is refused, in either scheme.
#[test]
fn a_request_signed_for_odoo_sent_back_to_the_edge_is_401() {
    let reflected_hex = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("x-signature", ODOO_SIGNATURE),
        ],
        ODOO_BODY,
    );
    assert_refused(&platform(), reflected_hex, 401, "unauthorized");
    let reflected_standard = standard_webhooks(SIGN_SECRET, ROW_KEY, ODOO_BODY);
    assert_refused(&platform(), reflected_standard, 401, "unauthorized");
}

#[test]
fn a_signing_secret_shared_with_the_inbound_list_is_500_invalid_config() {
    let p = platform().with_config("ODOO_SIGNING_SECRET", OLD_SECRET);
    let body = assert_refused(&p, insert_webhook(), 500, "invalid_config");
    assert_eq!(body["name"], "ODOO_SIGNING_SECRET");
}

// ---- drain -----------------------------------------------------------------------------

const DUE: &str = concat!(
    "or=(and(status.eq.queued%2Cnext_attempt_at.lte.%222026-11-23T10%3A00%3A00Z%22)",
    "%2Cand(status.eq.sent%2Csent_at.lt.%222026-11-23T09%3A55%3A00Z%22))"
);

#[test]
fn drain_pushes_due_rows_oldest_first() {
    let p = platform()
        .reply(
            200,
            r#"[{"id":3,"status":"queued","attempts":1},{"id":7,"status":"sent","attempts":0}]"#,
        )
        .reply(200, "[]")
        // Row 7's expired claim counted as its first attempt.
        .reply(200, &row("account.move.post", json!({"id": 42}), 1))
        .reply(200, "{}")
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, drain_request());
    assert_eq!(status, 200);
    assert_eq!(body["count"], 2);
    assert_eq!(body["rows"][0]["claimed"], false);
    assert_eq!(
        body["rows"][1],
        json!({"id": 7, "claimed": true, "status": "applied", "attempts": 2})
    );

    let sent = p.sent();
    assert_eq!(sent.len(), 5);
    assert_eq!(sent[0].request.method(), http::Method::GET);
    assert_eq!(
        sent[0].url(),
        format!(
            "{REST}/odoo_action_outbox?select=id%2Cstatus%2Cattempts&{DUE}&order=id.asc&limit=10"
        )
    );
    assert_postgrest_headers(&sent[0]);
    // Each claim repeats the condition its row was found under.
    assert_eq!(
        sent[1].url(),
        format!(
            "{REST}/odoo_action_outbox?id=eq.3&status=eq.queued&next_attempt_at=lte.2026-11-23T10%3A00%3A00Z&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key"
        )
    );
    assert_eq!(text(&sent[1]), CLAIM_BODY);
    assert_eq!(
        sent[2].url(),
        format!(
            "{REST}/odoo_action_outbox?id=eq.7&status=eq.sent&sent_at=lt.2026-11-23T09%3A55%3A00Z&attempts=eq.0&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key"
        )
    );
    assert_eq!(
        text(&sent[2]),
        r#"{"attempts":1,"sent_at":"2026-11-23T10:00:00Z","status":"sent"}"#
    );
    assert_odoo_call(&sent[3]);
    assert_eq!(sent[4].url(), FINISH_7);
}

#[test]
fn a_row_whose_expired_claims_used_up_its_attempts_is_not_sent_again() {
    let p = platform()
        .with_config("OUTBOX_MAX_ATTEMPTS", "3")
        .reply(200, r#"[{"id":7,"status":"sent","attempts":2}]"#)
        .reply(200, &row("account.move.post", json!({"id": 42}), 3))
        .reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, drain_request());
    assert_eq!(status, 200);
    assert_eq!(body["rows"][0]["status"], "error", "{body}");
    assert_eq!(body["rows"][0]["attempts"], 3);
    let sent = p.sent();
    assert_eq!(sent.len(), 3, "listing, claim, finish: Odoo is not called");
    assert_eq!(
        sent[2].json(),
        json!({"status": "error", "attempts": 3, "last_error": "gave up after 3 attempts: deliveries did not record an outcome within the lease"})
    );
}

#[test]
fn drain_refuses_an_unexpected_listing() {
    let p = platform().reply(200, r#"[{"id":3,"status":"applied"}]"#);
    let (status, body, _) = run(&p, drain_request());
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("store_rejected"))
    );
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn drain_limit_and_lease_are_configurable() {
    let p = platform()
        .with_config("OUTBOX_DRAIN_LIMIT", "3")
        .with_config("OUTBOX_LEASE_SECS", "60")
        .reply(200, "[]");
    let (status, body, _) = run(&p, drain_request());
    assert_eq!((status, body), (200, json!({"count": 0, "rows": []})));
    let url = p.sent()[0].url();
    assert!(url.ends_with("&order=id.asc&limit=3"), "{url}");
    assert!(
        url.contains("sent_at.lt.%222026-11-23T09%3A59%3A00Z%22"),
        "{url}"
    );
}

#[test]
fn drain_with_postgrest_down_is_503() {
    let p = platform().fail(OutboundError::Connection("refused".into()));
    let (status, body, headers) = run(&p, drain_request());
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("store_unavailable"))
    );
    assert_eq!(headers["retry-after"], "5");
}

// ---- refused requests: each its own test, nothing written or sent (the shared refusals
// are asserted by `conformance!` at the end) ------------------------------------------------

#[test]
fn unknown_sub_route_is_404() {
    let mut r = insert_webhook();
    *r.uri_mut() = "/push_to_odoo/retry".parse().unwrap();
    assert_refused(&platform(), r, 404, "not_found");
}

/// The health check needs no credential, reads one row at most, and says only whether the
/// destination is paused and what to check.
#[test]
fn health_says_whether_the_destination_is_paused() {
    let get = || {
        let mut r = request("/push_to_odoo/health", &[], "");
        *r.method_mut() = http::Method::GET;
        r
    };
    let p = platform().reply(200, r#"[{"id":7}]"#);
    let (status, body, _) = run(&p, get());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "push_to_odoo");
    assert_eq!(body["destination"]["paused"], true);
    assert!(
        body["destination"]["check"]
            .as_str()
            .unwrap()
            .contains("ODOO_API_TOKEN")
    );
    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].request.method(), http::Method::GET);
    assert_eq!(
        sent[0].url(),
        "http://supabase.test/rest/v1/odoo_action_outbox?status=eq.queued&last_error=like.destination%20paused%3A%20*&select=id&limit=1"
    );
    let p = platform().reply(200, "[]");
    let (_, body, _) = run(&p, get());
    assert_eq!(body["destination"], json!({"paused": false}));
}

/// Only the whole path names the drain: a nested one is 404 before any credential is read.
#[test]
fn a_nested_drain_path_is_404() {
    for path in [
        "/push_to_odoo/x/drain",
        "/push_to_odoo/drain/x",
        "/push_to_odoox/drain",
    ] {
        let mut r = drain_request();
        *r.uri_mut() = path.parse().unwrap();
        assert_refused(&platform(), r, 404, "not_found");
    }
}

#[test]
fn invalid_max_attempts_is_500_invalid_config() {
    let p = platform().with_config("OUTBOX_MAX_ATTEMPTS", "many");
    let body = assert_refused(&p, insert_webhook(), 500, "invalid_config");
    assert_eq!(body["name"], "OUTBOX_MAX_ATTEMPTS");
}

#[test]
fn no_credentials_is_401() {
    let r = request(
        "/push_to_odoo",
        &[("content-type", "application/json")],
        &webhook_body("INSERT", 7),
    );
    let body = assert_refused(&platform(), r, 401, "unauthorized");
    assert_eq!(body["header"], Value::Null);
}

#[test]
fn wrong_bearer_is_401() {
    let r = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer webhook-tokem"),
        ],
        &webhook_body("INSERT", 7),
    );
    let body = assert_refused(&platform(), r, 401, "unauthorized");
    assert_eq!(body["header"], "authorization");
}

#[test]
fn basic_authorization_is_401() {
    let r = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("authorization", "Basic d2ViaG9vay10b2tlbg=="),
        ],
        &webhook_body("INSERT", 7),
    );
    assert_refused(&platform(), r, 401, "unauthorized");
}

#[test]
fn drain_without_bearer_is_401() {
    let r = request("/push_to_odoo/drain", &[], "");
    let body = assert_refused(&platform(), r, 401, "unauthorized");
    assert_eq!(body["header"], "authorization");
}

#[test]
fn drain_with_a_signature_instead_of_the_bearer_is_401() {
    let signature = Secret::parse(INBOUND_SECRET).unwrap().sign_hex(b"{}");
    let r = request(
        "/push_to_odoo/drain",
        &[("x-signature", signature.as_str())],
        "{}",
    );
    assert_refused(&platform(), r, 401, "unauthorized");
}

#[test]
fn drain_with_a_wrong_bearer_is_401() {
    let r = request(
        "/push_to_odoo/drain",
        &[("authorization", "Bearer nope")],
        "",
    );
    assert_refused(&platform(), r, 401, "unauthorized");
}

#[test]
fn direct_call_signed_with_an_unknown_secret_is_401() {
    let call = r#"{"action":"account.move.post","args":{"id":42}}"#;
    let signature = Secret::parse("stranger").unwrap().sign_hex(call.as_bytes());
    let r = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("x-signature", signature.as_str()),
        ],
        call,
    );
    let body = assert_refused(&platform(), r, 401, "unauthorized");
    assert_eq!(body["header"], "x-signature");
}

#[test]
fn direct_call_signature_over_another_body_is_401() {
    let signature = Secret::parse(INBOUND_SECRET).unwrap().sign_hex(b"{}");
    let r = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("x-signature", signature.as_str()),
        ],
        r#"{"action":"account.move.post","args":{"id":42}}"#,
    );
    assert_refused(&platform(), r, 401, "unauthorized");
}

#[test]
fn direct_call_with_a_half_standard_webhook_is_401() {
    let r = request(
        "/push_to_odoo",
        &[
            ("content-type", "application/json"),
            ("webhook-id", "msg_1"),
        ],
        r#"{"action":"account.move.post","args":{"id":42}}"#,
    );
    let body = assert_refused(&platform(), r, 401, "unauthorized");
    assert_eq!(body["header"], "webhook-timestamp");
}

#[test]
fn webhook_with_broken_json_is_400() {
    assert_refused(&platform(), webhook("{\"type\":"), 400, "invalid_json");
}

fn assert_invalid(request: pulser_runtime::Request, field: &str) {
    let body = assert_refused(&platform(), request, 422, "invalid_body");
    assert_eq!(body["field"], field, "{body}");
}

#[test]
fn webhook_for_another_table_is_422() {
    let body = webhook_body("INSERT", 7).replace("odoo_action_outbox", "audit_event");
    assert_invalid(webhook(&body), "table");
}

#[test]
fn webhook_for_another_schema_is_422() {
    let body = webhook_body("INSERT", 7).replace("\"public\"", "\"auth\"");
    assert_invalid(webhook(&body), "schema");
}

#[test]
fn webhook_of_another_type_is_422() {
    assert_invalid(webhook(&webhook_body("TRUNCATE", 7)), "type");
}

#[test]
fn webhook_without_record_is_422() {
    let body = r#"{"type":"INSERT","table":"odoo_action_outbox","schema":"public","record":null}"#;
    assert_invalid(webhook(body), "record");
}

#[test]
fn webhook_with_a_negative_record_id_is_422() {
    assert_invalid(webhook(&webhook_body("INSERT", -7)), "record.id");
}

#[test]
fn webhook_that_is_an_array_is_422() {
    assert_invalid(webhook("[]"), "body");
}

#[test]
fn direct_call_without_action_is_422() {
    assert_invalid(signed(r#"{"args":{"id":42}}"#), "action");
}

#[test]
fn direct_call_with_string_args_is_422() {
    assert_invalid(
        signed(r#"{"action":"account.move.post","args":"id=42"}"#),
        "args",
    );
}

#[test]
fn direct_call_with_a_bad_correlation_id_is_422() {
    assert_invalid(
        signed(r#"{"action":"account.move.post","args":{"id":42},"correlation_id":"x"}"#),
        "correlation_id",
    );
}

// ---- secrets ---------------------------------------------------------------------------

#[test]
fn secrets_never_appear_in_answers_or_logs() {
    let secrets = [
        SIGN_SECRET,
        INBOUND_SECRET,
        OLD_SECRET,
        ODOO_TOKEN,
        SERVICE_KEY,
        WEBHOOK_TOKEN,
    ];
    let cases: Vec<(FakePlatform, pulser_runtime::Request)> = vec![
        (
            platform()
                .reply(200, &claimable())
                .reply(200, "{}")
                .reply(200, r#"[{"id":7}]"#),
            insert_webhook(),
        ),
        (
            platform()
                .reply(200, &claimable())
                .reply(401, r#"{"message":"x-api-key missing or wrong"}"#)
                .reply(200, "[]"),
            insert_webhook(),
        ),
        (
            platform()
                .reply(200, &claimable())
                .fail(OutboundError::Timeout)
                .fail(OutboundError::Timeout),
            insert_webhook(),
        ),
        (
            platform(),
            request(
                "/push_to_odoo",
                &[
                    ("content-type", "application/json"),
                    ("authorization", "Bearer wrong"),
                ],
                "{}",
            ),
        ),
        (
            platform(),
            request(
                "/push_to_odoo/drain",
                &[("authorization", "Bearer wrong")],
                "",
            ),
        ),
        (
            platform().with_config("OUTBOX_LEASE_SECS", "1"),
            insert_webhook(),
        ),
        (platform(), signed(r#"{"action":1}"#)),
    ];
    for (p, request) in cases {
        let response = block_on(handle(request, &p));
        let seen = pulser_runtime::testing::everything_seen(&response, &p);
        for secret in secrets {
            assert!(!seen.contains(secret), "{secret} leaked in:\n{seen}");
        }
    }
}

// The database webhook is the caller that needs every required setting.
pulser_runtime::conformance! {
    handle: push_to_odoo::handle,
    spec: push_to_odoo::SPEC,
    settings: push_to_odoo::settings::TABLE,
    platform: platform,
    request: |body: &[u8]| webhook(core::str::from_utf8(body).unwrap()),
    credentials: &["authorization"],
    authenticated_by: &["PUSH_WEBHOOK_TOKEN"],
    body: webhook_body("INSERT", 7).as_bytes(),
}
