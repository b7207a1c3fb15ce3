#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! The whole handler on a scripted platform: fixed clock, counter randomness, exact
//! outbound requests, captured logs.

use odoo_event_ingest::handle;
use pulser_runtime::OutboundError;
use pulser_runtime::testing::{FakePlatform, block_on};
use pulser_signing::Secret;
use serde_json::{Value, json};

const NOW: u64 = 1_795_428_000;
const SECRET: &str = "current-secret-0123";
const OLD_SECRET: &str = "previous-secret-0123";
const SERVICE_KEY: &str = "service-role-key";
const REALTIME_KEY_CHANNEL: &str = "odoo-events";
const INSERT_URL: &str =
    "http://supabase.test/rest/v1/audit_event?on_conflict=source%2Cevent_id&select=id%2Cevent_id";
/// The UUID the counter randomness of FakePlatform yields first (bytes 1..=16).
const FIRST_UUID: &str = "01020304-0506-4708-890a-0b0c0d0e0f10";
const CALLER_UUID: &str = "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11";
const EVENT: &str = r#"{"event_type":"invoice.posted","resource_id":42,"payload":{"amount":10}}"#;

/// The key of the event at `index` of a hex-signed `body` without `event_id`.
fn body_key(body: &str, index: usize) -> String {
    format!(
        "sha256:{}:{index}",
        pulser_signing::sha256_hex(body.as_bytes()).as_str()
    )
}

/// PostgREST's representation of [`EVENT`], hex-signed, stored as row `id`.
fn stored_event(id: i64) -> String {
    json!([{"id": id, "event_id": body_key(EVENT, 0)}]).to_string()
}

fn platform() -> FakePlatform {
    FakePlatform::new(NOW)
        .with_config("EDGE_HMAC_SECRET", &format!("{SECRET},{OLD_SECRET}"))
        .with_config("SUPABASE_URL", "http://supabase.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
}

fn sign(secret: &str, body: &[u8]) -> String {
    Secret::parse(secret).unwrap().sign_hex(body).to_string()
}

fn request_with(headers: &[(&str, &str)], body: &str) -> pulser_runtime::Request {
    let mut builder = http::Request::post("/odoo_event_ingest");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.as_bytes().to_vec()).unwrap()
}

fn signed(body: &str) -> pulser_runtime::Request {
    request_with(
        &[
            ("content-type", "application/json"),
            ("x-signature", &sign(SECRET, body.as_bytes())),
        ],
        body,
    )
}

fn run(platform: &FakePlatform, request: pulser_runtime::Request) -> (u16, Value, http::HeaderMap) {
    let response = block_on(handle(request, platform));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body()).expect("every answer is JSON");
    (status, body, headers)
}

/// Asserts an error answer and that nothing was sent anywhere.
fn assert_refused(
    platform: &FakePlatform,
    request: pulser_runtime::Request,
    status: u16,
    code: &str,
) -> Value {
    let (got, body, headers) = run(platform, request);
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].is_string(), "{body}");
    assert!(headers.contains_key("x-correlation-id"));
    assert!(
        platform.sent().is_empty(),
        "nothing may be stored: {:?}",
        platform.sent()
    );
    body
}

// ---- happy paths -----------------------------------------------------------------------

#[test]
fn one_event_is_stored_with_one_exact_insert() {
    let p = platform().reply(201, &stored_event(7));
    let (status, body, headers) = run(&p, signed(EVENT));
    assert_eq!(status, 201);
    assert_eq!(body, json!({"id": 7, "correlation_id": FIRST_UUID}));
    assert_eq!(headers["x-correlation-id"], FIRST_UUID);

    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    let insert = &sent[0];
    assert_eq!(insert.request.method(), http::Method::POST);
    assert_eq!(insert.url(), INSERT_URL);
    assert_eq!(insert.header("apikey"), Some(SERVICE_KEY));
    assert_eq!(
        insert.header("authorization"),
        Some("Bearer service-role-key")
    );
    assert_eq!(insert.header("content-type"), Some("application/json"));
    assert_eq!(
        insert.header("prefer"),
        Some("resolution=ignore-duplicates,return=representation")
    );
    assert_eq!(insert.timeout, odoo_event_ingest::POSTGREST_TIMEOUT);
    assert_eq!(
        String::from_utf8(insert.request.body().clone()).unwrap(),
        format!(
            r#"[{{"source":"odoo","event_type":"invoice.posted","resource_id":"42","payload":{{"amount":10}},"correlation_id":"{FIRST_UUID}","event_id":"{}","occurred_at":null}}]"#,
            body_key(EVENT, 0)
        )
    );
}

#[test]
fn the_callers_uuid_correlation_id_is_used_for_the_row() {
    let p = platform().reply(201, &stored_event(1));
    let mut request = signed(EVENT);
    request
        .headers_mut()
        .insert("x-correlation-id", CALLER_UUID.parse().unwrap());
    let (status, body, headers) = run(&p, request);
    assert_eq!(status, 201);
    assert_eq!(body["correlation_id"], CALLER_UUID);
    assert_eq!(headers["x-correlation-id"], CALLER_UUID);
    assert_eq!(p.sent()[0].json()[0]["correlation_id"], CALLER_UUID);
}

#[test]
fn a_non_uuid_correlation_header_is_echoed_but_rows_get_a_uuid() {
    let p = platform().reply(201, &stored_event(1));
    let mut request = signed(EVENT);
    request
        .headers_mut()
        .insert("x-correlation-id", "odoo-req-1".parse().unwrap());
    let (_, body, headers) = run(&p, request);
    assert_eq!(headers["x-correlation-id"], "odoo-req-1");
    assert_eq!(body["correlation_id"], FIRST_UUID);
}

#[test]
fn a_batch_is_one_insert_and_answers_a_list() {
    let batch = r#"[
        {"event_type":"a","resource_id":"1","payload":{},"event_id":"e-1"},
        {"event_type":"b","resource_id":2,"payload":{"x":true},"correlation_id":"6F1C1F64-0C5B-4D8E-9A57-0A5B7D1D1A11","occurred_at":"2026-11-23 09:00:00"}
    ]"#;
    let p = platform().reply(
        201,
        &json!([{"id": 10, "event_id": "e-1"}, {"id": 11, "event_id": body_key(batch, 1)}])
            .to_string(),
    );
    let (status, body, _) = run(&p, signed(batch));
    assert_eq!(status, 201);
    assert_eq!(
        body,
        json!([
            {"id": 10, "correlation_id": FIRST_UUID},
            {"id": 11, "correlation_id": CALLER_UUID},
        ])
    );
    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].json(),
        json!([
            {"source":"odoo","event_type":"a","resource_id":"1","payload":{},"correlation_id":FIRST_UUID,"event_id":"e-1","occurred_at":null},
            {"source":"odoo","event_type":"b","resource_id":"2","payload":{"x":true},"correlation_id":CALLER_UUID,"event_id":body_key(batch, 1),"occurred_at":"2026-11-23T09:00:00Z"},
        ])
    );
}

#[test]
fn a_repeated_event_id_writes_nothing_and_answers_200_duplicate() {
    let body = r#"{"event_type":"t","resource_id":1,"payload":{},"event_id":"evt-1"}"#;
    let p = platform().reply(201, "[]");
    let (status, answer, _) = run(&p, signed(body));
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"duplicate": true, "event_id": "evt-1", "correlation_id": FIRST_UUID})
    );
}

#[test]
fn a_batch_with_some_repeats_reports_each() {
    let body = r#"[{"event_type":"t","resource_id":1,"payload":{},"event_id":"old"},
                   {"event_type":"t","resource_id":1,"payload":{},"event_id":"new"}]"#;
    let p = platform().reply(201, r#"[{"id":5,"event_id":"new"}]"#);
    let (status, answer, _) = run(&p, signed(body));
    assert_eq!(status, 201);
    assert_eq!(
        answer,
        json!([
            {"duplicate": true, "event_id": "old", "correlation_id": FIRST_UUID},
            {"id": 5, "correlation_id": FIRST_UUID},
        ])
    );
}

#[test]
fn a_batch_of_only_repeats_answers_200() {
    let body = r#"[{"event_type":"t","resource_id":1,"payload":{},"event_id":"a"}]"#;
    let p = platform().reply(201, "[]");
    assert_eq!(run(&p, signed(body)).0, 200);
}

#[test]
fn a_hex_signed_event_without_event_id_is_keyed_by_the_sha256_of_its_bytes() {
    let p = platform().reply(201, &stored_event(7));
    assert_eq!(run(&p, signed(EVENT)).0, 201);
    let key = p.sent()[0].json()[0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // SHA-256 of EVENT's exact bytes, computed independently with `sha256sum`.
    assert_eq!(
        key,
        "sha256:583f6f8d9c71505cc7ee3f4cdc83844230b2f1db0034496972214b1b2c1ae9c7:0"
    );
}

#[test]
fn a_byte_identical_retry_of_a_hex_signed_event_is_a_duplicate() {
    let p = platform().reply(201, &stored_event(7)).reply(201, "[]");
    assert_eq!(run(&p, signed(EVENT)).0, 201);
    let (status, answer, _) = run(&p, signed(EVENT));
    assert_eq!(status, 200);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(answer["event_id"], body_key(EVENT, 0));
    let sent = p.sent();
    assert_eq!(sent[0].json()[0]["event_id"], sent[1].json()[0]["event_id"]);
}

#[test]
fn the_same_event_id_twice_in_a_batch_stores_the_first_and_answers_the_second_duplicate() {
    let body = r#"[{"event_type":"t","resource_id":"first","payload":{},"event_id":"same"},
                   {"event_type":"t","resource_id":"other","payload":{},"event_id":"other"},
                   {"event_type":"t","resource_id":"second","payload":{},"event_id":"same"}]"#;
    let p = platform().reply(
        201,
        r#"[{"id":5,"event_id":"same"},{"id":6,"event_id":"other"}]"#,
    );
    let (status, answer, _) = run(&p, signed(body));
    assert_eq!(status, 201);
    assert_eq!(
        answer,
        json!([
            {"id": 5, "correlation_id": FIRST_UUID},
            {"id": 6, "correlation_id": FIRST_UUID},
            {"duplicate": true, "event_id": "same", "correlation_id": FIRST_UUID},
        ])
    );
    // Only the first of the key goes out, so no insert carries one key twice.
    let rows = p.sent()[0].json();
    let sent: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["first", "other"]);
}

#[test]
fn the_previous_secret_still_verifies() {
    let p = platform().reply(201, &stored_event(1));
    let request = request_with(
        &[
            ("content-type", "application/json; charset=utf-8"),
            (
                "x-signature",
                &format!("sha256={}", sign(OLD_SECRET, EVENT.as_bytes())),
            ),
        ],
        EVENT,
    );
    assert_eq!(run(&p, request).0, 201);
}

fn standard_headers(secret: &str, id: &str, timestamp: u64, body: &str) -> Vec<(String, String)> {
    let signed_content = format!("{id}.{timestamp}.{body}");
    let mac = Secret::parse(secret)
        .unwrap()
        .sign(signed_content.as_bytes());
    use base64::Engine as _;
    let signature = base64::engine::general_purpose::STANDARD.encode(mac);
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), format!("v1,{signature}")),
    ]
}

fn standard_request(secret: &str, id: &str, timestamp: u64, body: &str) -> pulser_runtime::Request {
    let headers = standard_headers(secret, id, timestamp, body);
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    request_with(&pairs, body)
}

#[test]
fn standard_webhooks_id_keys_an_event_without_event_id_in_its_own_namespace() {
    let p = platform().reply(201, r#"[{"id":3,"event_id":"webhook:msg_abc:0"}]"#);
    let (status, body, _) = run(&p, standard_request(SECRET, "msg_abc", NOW - 10, EVENT));
    assert_eq!(status, 201);
    assert_eq!(body["id"], 3);
    assert_eq!(p.sent()[0].json()[0]["event_id"], "webhook:msg_abc:0");
}

#[test]
fn standard_webhooks_id_keys_each_event_of_a_batch_by_its_index() {
    let p = platform().reply(
        201,
        r#"[{"id":3,"event_id":"webhook:msg_abc:0"},{"id":4,"event_id":"webhook:msg_abc:1"}]"#,
    );
    let batch = format!("[{EVENT},{EVENT}]");
    let (status, body, _) = run(&p, standard_request(SECRET, "msg_abc", NOW, &batch));
    assert_eq!(status, 201, "{body}");
    let keys: Vec<Value> = p.sent()[0]
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["event_id"].clone())
        .collect();
    assert_eq!(
        keys,
        [json!("webhook:msg_abc:0"), json!("webhook:msg_abc:1")]
    );
}

#[test]
fn standard_webhooks_event_with_its_own_event_id_keeps_it() {
    let body = r#"{"event_type":"t","resource_id":1,"payload":{},"event_id":"evt-1"}"#;
    let p = platform().reply(201, r#"[{"id":3,"event_id":"evt-1"}]"#);
    assert_eq!(
        run(&p, standard_request(SECRET, "msg_abc", NOW, body)).0,
        201
    );
    assert_eq!(p.sent()[0].json()[0]["event_id"], "evt-1");
}

#[test]
fn standard_webhooks_redelivery_is_a_duplicate() {
    let p = platform().reply(201, "[]");
    let (status, body, _) = run(&p, standard_request(SECRET, "msg_abc", NOW, EVENT));
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["event_id"], "webhook:msg_abc:0");
}

// ---- Realtime --------------------------------------------------------------------------

#[test]
fn stored_events_are_broadcast_when_a_channel_is_set() {
    let p = platform()
        .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
        .reply(201, &stored_event(7))
        .reply(202, "");
    let (status, _, _) = run(&p, signed(EVENT));
    assert_eq!(status, 201);
    let sent = p.sent();
    assert_eq!(sent.len(), 2);
    let broadcast = &sent[1];
    assert_eq!(
        broadcast.url(),
        "http://supabase.test/realtime/v1/api/broadcast"
    );
    assert_eq!(broadcast.header("apikey"), Some(SERVICE_KEY));
    assert_eq!(
        broadcast.header("authorization"),
        Some("Bearer service-role-key")
    );
    assert_eq!(broadcast.timeout, odoo_event_ingest::BROADCAST_TIMEOUT);
    assert_eq!(
        broadcast.json(),
        json!({"messages": [{"topic": REALTIME_KEY_CHANNEL, "event": "invoice.posted", "payload": {
            "id": 7, "source": "odoo", "event_type": "invoice.posted", "resource_id": "42",
            "payload": {"amount": 10}, "correlation_id": FIRST_UUID, "event_id": body_key(EVENT, 0), "occurred_at": null
        }, "private": true}]}),
        "by default the whole row goes out as a private message only"
    );
}

/// A public channel is open to anyone with the anon key: with `REALTIME_PAYLOAD=ids` only
/// the row's id, type and correlation id go there, never the event's payload.
#[test]
fn a_public_broadcast_carries_ids_only() {
    let p = platform()
        .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
        .with_config("REALTIME_PAYLOAD", "ids")
        .reply(201, &stored_event(7))
        .reply(202, "");
    assert_eq!(run(&p, signed(EVENT)).0, 201);
    assert_eq!(
        p.sent()[1].json(),
        json!({"messages": [{"topic": REALTIME_KEY_CHANNEL, "event": "invoice.posted", "payload": {
            "id": 7, "event_type": "invoice.posted", "correlation_id": FIRST_UUID
        }, "private": false}]})
    );
}

#[test]
fn an_unknown_realtime_payload_is_500_invalid_config() {
    let p = platform().with_config("REALTIME_PAYLOAD", "everything");
    let (status, body, _) = run(&p, signed(EVENT));
    assert_eq!(
        (status, body["name"].as_str()),
        (500, Some("REALTIME_PAYLOAD")),
        "{body}"
    );
}

#[test]
fn a_failed_broadcast_is_logged_and_the_ingest_still_succeeds() {
    let p = platform()
        .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
        .reply(201, &stored_event(7))
        .fail(OutboundError::Connection("refused".into()));
    assert_eq!(run(&p, signed(EVENT)).0, 201);
    assert!(
        p.logs()
            .iter()
            .any(|l| l.contains("realtime broadcast failed")),
        "{:?}",
        p.logs()
    );
}

#[test]
fn a_broadcast_answered_500_is_logged_and_the_ingest_still_succeeds() {
    let p = platform()
        .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
        .reply(201, &stored_event(7))
        .reply(500, "boom");
    assert_eq!(run(&p, signed(EVENT)).0, 201);
    assert!(p.logs().iter().any(|l| l.contains("Realtime answered 500")));
}

#[test]
fn repeats_are_not_broadcast() {
    let body = r#"{"event_type":"t","resource_id":1,"payload":{},"event_id":"evt-1"}"#;
    let p = platform()
        .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
        .reply(201, "[]");
    assert_eq!(run(&p, signed(body)).0, 200);
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn no_channel_no_broadcast() {
    let p = platform().reply(201, &stored_event(7));
    run(&p, signed(EVENT));
    assert_eq!(p.sent().len(), 1);
}

// ---- PostgREST failures ----------------------------------------------------------------

fn assert_503(p: &FakePlatform, code: &str) -> Value {
    let (status, body, headers) = run(p, signed(EVENT));
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some(code)),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "5");
    assert!(body.get("id").is_none());
    assert_eq!(p.sent().len(), 1, "one insert, no broadcast");
    body
}

fn assert_unavailable(p: &FakePlatform) {
    let body = assert_503(p, "store_unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{body}"
    );
}

/// The insert went out and no answer came back: it may have committed, so the answer never
/// says nothing was stored, and the same request may be repeated.
fn assert_outcome_unknown(p: &FakePlatform) {
    let body = assert_503(p, "store_outcome_unknown");
    let message = body["message"].as_str().unwrap();
    assert!(!message.contains("nothing was stored"), "{body}");
    assert!(message.contains("repeat the same request"), "{body}");
}

#[test]
fn postgrest_timeout_is_503_store_outcome_unknown() {
    assert_outcome_unknown(
        &platform()
            .with_config("REALTIME_CHANNEL", REALTIME_KEY_CHANNEL)
            .fail(OutboundError::Timeout),
    );
}

#[test]
fn postgrest_connection_lost_mid_request_is_503_store_outcome_unknown() {
    assert_outcome_unknown(&platform().fail(OutboundError::Connection("connection reset".into())));
}

#[test]
fn postgrest_unreachable_is_503_store_unavailable() {
    // Refused before any connection: the insert never left, so surely nothing was stored.
    assert_unavailable(&platform().fail(OutboundError::Unreachable("connection-refused".into())));
}

#[test]
fn retrying_after_an_unknown_outcome_sends_the_same_keyed_insert() {
    let p = platform().fail(OutboundError::Timeout).reply(201, "[]");
    assert_eq!(run(&p, signed(EVENT)).0, 503);
    let (status, answer, _) = run(&p, signed(EVENT));
    assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)));
    let sent = p.sent();
    assert_eq!(sent[0].json()[0]["event_id"], sent[1].json()[0]["event_id"]);
}

#[test]
fn postgrest_destination_refused_by_the_host_is_503_store_unavailable() {
    assert_unavailable(&platform().fail(OutboundError::Forbidden("supabase.test".into())));
}

#[test]
fn postgrest_500_is_503() {
    assert_unavailable(&platform().reply(500, r#"{"message":"boom"}"#));
}

#[test]
fn postgrest_503_is_503() {
    assert_unavailable(&platform().reply(503, ""));
}

#[test]
fn postgrest_refusing_the_insert_is_502() {
    let p = platform().reply(400, r#"{"message":"column \"x\" does not exist"}"#);
    let (status, body, _) = run(&p, signed(EVENT));
    assert_eq!(status, 502);
    assert_eq!(body["error"], "store_rejected");
    assert!(body["message"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn postgrest_answering_garbage_is_502() {
    let p = platform().reply(201, "not json");
    let (status, body, _) = run(&p, signed(EVENT));
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("store_rejected"))
    );
}

// ---- refused requests: each its own test, none stores anything (the shared refusals are
// asserted by `conformance!` at the end) --------------------------------------------------

#[test]
fn missing_content_type_is_415() {
    let request = request_with(&[("x-signature", &sign(SECRET, EVENT.as_bytes()))], EVENT);
    assert_refused(&platform(), request, 415, "unsupported_media_type");
}

#[test]
fn unusable_secret_is_500_invalid_config_without_the_value() {
    let p = FakePlatform::new(NOW).with_config("EDGE_HMAC_SECRET", "whsec_%%%not-base64%%%");
    let body = assert_refused(&p, signed(EVENT), 500, "invalid_config");
    assert_eq!(body["name"], "EDGE_HMAC_SECRET");
    assert!(!body.to_string().contains("not-base64"), "{body}");
}

#[test]
fn unsigned_request_is_401() {
    let request = request_with(&[("content-type", "application/json")], EVENT);
    let body = assert_refused(&platform(), request, 401, "unauthorized");
    assert_eq!(body["header"], "x-signature");
}

#[test]
fn signature_by_an_unknown_secret_is_401() {
    let request = request_with(
        &[
            ("content-type", "application/json"),
            ("x-signature", &sign("someone-else", EVENT.as_bytes())),
        ],
        EVENT,
    );
    assert_refused(&platform(), request, 401, "unauthorized");
}

#[test]
fn signature_of_another_body_is_401() {
    let request = request_with(
        &[
            ("content-type", "application/json"),
            ("x-signature", &sign(SECRET, b"{}")),
        ],
        EVENT,
    );
    assert_refused(&platform(), request, 401, "unauthorized");
}

#[test]
fn truncated_signature_is_401() {
    let full = sign(SECRET, EVENT.as_bytes());
    let request = request_with(
        &[
            ("content-type", "application/json"),
            ("x-signature", &full[..63]),
        ],
        EVENT,
    );
    assert_refused(&platform(), request, 401, "unauthorized");
}

#[test]
fn empty_signature_is_401() {
    let request = request_with(
        &[
            ("content-type", "application/json"),
            ("x-signature", "sha256="),
        ],
        EVENT,
    );
    assert_refused(&platform(), request, 401, "unauthorized");
}

#[test]
fn standard_webhook_too_old_is_401() {
    let body = assert_refused(
        &platform(),
        standard_request(SECRET, "msg_1", NOW - 301, EVENT),
        401,
        "unauthorized",
    );
    assert_eq!(body["header"], "webhook-timestamp");
}

#[test]
fn standard_webhook_from_the_future_is_401() {
    assert_refused(
        &platform(),
        standard_request(SECRET, "msg_1", NOW + 301, EVENT),
        401,
        "unauthorized",
    );
}

#[test]
fn standard_webhook_with_a_wrong_secret_is_401() {
    assert_refused(
        &platform(),
        standard_request("other", "msg_1", NOW, EVENT),
        401,
        "unauthorized",
    );
}

#[test]
fn standard_webhook_without_signature_header_is_401() {
    let request = request_with(
        &[
            ("content-type", "application/json"),
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &NOW.to_string()),
        ],
        EVENT,
    );
    let body = assert_refused(&platform(), request, 401, "unauthorized");
    assert_eq!(body["header"], "webhook-signature");
}

#[test]
fn malformed_json_is_400() {
    assert_refused(
        &platform(),
        signed(r#"{"event_type":"#),
        400,
        "invalid_json",
    );
}

fn assert_invalid(body: &str, field: &str, index: Option<usize>) {
    let answer = assert_refused(&platform(), signed(body), 422, "invalid_event");
    assert_eq!(answer["field"], field, "{answer}");
    assert_eq!(
        answer.get("index").and_then(Value::as_u64),
        index.map(|i| i as u64),
        "{answer}"
    );
}

#[test]
fn scalar_body_is_422() {
    assert_invalid("42", "body", None);
}

#[test]
fn empty_batch_is_422() {
    assert_invalid("[]", "body", None);
}

#[test]
fn batch_of_501_is_422() {
    let batch = format!("[{}]", vec![EVENT; 501].join(","));
    assert_invalid(&batch, "body", None);
}

#[test]
fn missing_event_type_is_422() {
    assert_invalid(r#"{"resource_id":1,"payload":{}}"#, "event_type", None);
}

#[test]
fn empty_event_type_is_422() {
    assert_invalid(
        r#"{"event_type":"","resource_id":1,"payload":{}}"#,
        "event_type",
        None,
    );
}

#[test]
fn long_event_type_is_422() {
    let body = format!(
        r#"{{"event_type":"{}","resource_id":1,"payload":{{}}}}"#,
        "t".repeat(201)
    );
    assert_invalid(&body, "event_type", None);
}

#[test]
fn missing_resource_id_is_422() {
    assert_invalid(r#"{"event_type":"t","payload":{}}"#, "resource_id", None);
}

#[test]
fn boolean_resource_id_is_422() {
    assert_invalid(
        r#"{"event_type":"t","resource_id":true,"payload":{}}"#,
        "resource_id",
        None,
    );
}

#[test]
fn missing_payload_is_422() {
    assert_invalid(r#"{"event_type":"t","resource_id":1}"#, "payload", None);
}

#[test]
fn string_payload_is_422() {
    assert_invalid(
        r#"{"event_type":"t","resource_id":1,"payload":"{}"}"#,
        "payload",
        None,
    );
}

#[test]
fn non_uuid_correlation_id_is_422() {
    assert_invalid(
        r#"{"event_type":"t","resource_id":1,"payload":{},"correlation_id":"c-1"}"#,
        "correlation_id",
        None,
    );
}

#[test]
fn bad_occurred_at_is_422() {
    assert_invalid(
        r#"{"event_type":"t","resource_id":1,"payload":{},"occurred_at":"2026-02-30T00:00:00Z"}"#,
        "occurred_at",
        None,
    );
}

#[test]
fn bad_event_in_a_batch_names_its_index() {
    let body = format!(r#"[{EVENT},{EVENT},{{"event_type":"t","resource_id":1,"payload":[]}}]"#);
    assert_invalid(&body, "payload", Some(2));
}

#[test]
fn non_object_in_a_batch_names_its_index() {
    assert_invalid(&format!("[{EVENT}, null]"), "event", Some(1));
}

#[test]
fn event_id_with_the_webhook_prefix_is_422() {
    let answer = assert_refused(
        &platform(),
        signed(r#"{"event_type":"t","resource_id":1,"payload":{},"event_id":"webhook:x"}"#),
        422,
        "invalid_event",
    );
    assert_eq!(answer["field"], "event_id");
    assert!(answer.get("index").is_none(), "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("reserved"), "{message}");
}

#[test]
fn event_id_with_the_sha256_prefix_in_a_batch_is_422_naming_its_index() {
    let reserved = format!(
        r#"{{"event_type":"t","resource_id":1,"payload":{{}},"event_id":"{}"}}"#,
        body_key(EVENT, 0)
    );
    assert_invalid(&format!("[{EVENT},{reserved}]"), "event_id", Some(1));
}

// ---- secrets ---------------------------------------------------------------------------

#[test]
fn secrets_never_appear_in_answers_or_logs() {
    let secrets = [SECRET, OLD_SECRET, SERVICE_KEY];
    let cases: Vec<(FakePlatform, pulser_runtime::Request)> = vec![
        (platform().reply(201, &stored_event(1)), signed(EVENT)),
        (
            platform()
                .with_config("REALTIME_CHANNEL", "c")
                .reply(201, &stored_event(1))
                .reply(401, r#"{"message":"bad key"}"#),
            signed(EVENT),
        ),
        (
            platform(),
            request_with(&[("content-type", "application/json")], EVENT),
        ),
        (
            platform(),
            request_with(
                &[
                    ("content-type", "application/json"),
                    ("x-signature", &sign("x", b"{}")),
                ],
                EVENT,
            ),
        ),
        (platform().fail(OutboundError::Timeout), signed(EVENT)),
        (
            platform().reply(400, r#"{"message":"nope"}"#),
            signed(EVENT),
        ),
        (platform(), signed(r#"{"event_type":1}"#)),
    ];
    for (p, request) in cases {
        let response = block_on(handle(request, &p));
        let seen = pulser_runtime::testing::everything_seen(&response, &p);
        for secret in secrets {
            assert!(!seen.contains(secret), "{secret} leaked in:\n{seen}");
        }
    }
}

pulser_runtime::conformance! {
    handle: odoo_event_ingest::handle,
    spec: odoo_event_ingest::SPEC,
    settings: odoo_event_ingest::settings::TABLE,
    platform: platform,
    request: |body: &[u8]| signed(core::str::from_utf8(body).unwrap()),
    credentials: &["x-signature"],
    authenticated_by: &["EDGE_HMAC_SECRET"],
    body: EVENT.as_bytes(),
}
