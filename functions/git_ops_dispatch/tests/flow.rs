#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The endpoint on a scripted platform: exact GitHub and PostgREST requests (URL, headers,
//! decoded JWT claims, bodies), every validation failure and bad signature its own test with
//! nothing sent to GitHub, and each state of a `request_id`'s row. The token cache is the
//! platform's, so a token is shared exactly between requests handed the same platform.
//!
//! Replies are scripted in the order the function sends: the row's insert (PostgREST), the
//! token exchange and the dispatch (GitHub), the PATCH recording the outcome (PostgREST).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use git_ops_dispatch::handle;
use pulser_runtime::testing::{FakePlatform, Sent, assert_refusal, block_on};
use pulser_runtime::{OutboundError, Request, Response};
use pulser_signing::Secret;
use serde_json::{Value, json};

const NOW: u64 = 1_795_000_000;
/// `NOW` in RFC 3339.
const NOW_TEXT: &str = "2026-11-18T11:06:40Z";
const SECRET: &str = "pulser-secret-0123456";
const SERVICE_KEY: &str = "service-role-key";
/// The caller's `x-correlation-id`, a UUID, so the dispatch carries it.
const CORRELATION: &str = "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11";
/// The correlation id of an earlier attempt, as its row holds it.
const EARLIER: &str = "0b0c0d0e-0f10-4112-9314-15161718191a";
const ROWS: &str = "http://db.test/rest/v1/git_ops_dispatch";

/// The scope every token exchange asks for: only the configured repository, only
/// `contents: write`.
fn token_scope() -> Value {
    json!({"repositories": ["pulse-hub"], "permissions": {"contents": "write"}})
}

fn key_base64() -> String {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/signing/tests/data/github-app-test-key.pkcs1.pem"),
    )
    .unwrap();
    STANDARD.encode(pem)
}

fn platform(api: &str) -> FakePlatform {
    FakePlatform::new(NOW)
        .with_config("PULSER_WEBHOOK_SECRET", SECRET)
        .with_config("GITHUB_APP_ID", "424242")
        .with_config("GITHUB_INSTALLATION_ID", "31337")
        .with_config("GITHUB_APP_PRIVATE_KEY_BASE64", &key_base64())
        .with_config("GITHUB_REPO_OWNER", "pulser")
        .with_config("GITHUB_REPO_NAME", "pulse-hub")
        .with_config("GITHUB_API_URL", &format!("http://{api}.test"))
        .with_config("SUPABASE_URL", "http://db.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
}

// ---- scripted answers, in the order they are asked for ----------------------------------

/// PostgREST stored the new row.
fn inserted(p: FakePlatform) -> FakePlatform {
    p.reply(201, r#"[{"request_id":"req-1"}]"#)
}

/// PostgREST skipped the insert: the request id has a row.
fn seen_before(p: FakePlatform) -> FakePlatform {
    p.reply(201, "[]")
}

/// The row read back: `status`, written `updated_at`, for the request `fields` (as
/// [`body`] completes them) under the earlier attempt's correlation id.
fn row(p: FakePlatform, status: &str, updated_at: &str, fields: &Value) -> FakePlatform {
    let row = json!([{
        "status": status,
        "event_type": "git-ops",
        "client_payload": git_ops_payload(fields, EARLIER),
        "correlation_id": EARLIER,
        "updated_at": updated_at,
    }]);
    p.reply(200, &row.to_string())
}

fn token_reply(p: FakePlatform) -> FakePlatform {
    p.reply(
        201,
        r#"{"token":"ghs_abc","expires_at":"2026-11-18T12:06:40Z"}"#,
    )
}

fn accepted(p: FakePlatform) -> FakePlatform {
    p.reply(204, "")
}

/// PostgREST recorded the outcome (or a claim) on the row.
fn recorded(p: FakePlatform) -> FakePlatform {
    p.reply(200, r#"[{"request_id":"req-1"}]"#)
}

/// Everything a new request needs to be dispatched with a fresh token.
fn dispatched_fresh(p: FakePlatform) -> FakePlatform {
    recorded(accepted(token_reply(inserted(p))))
}

// ---- requests --------------------------------------------------------------------------

/// `fields` with `request_id` `req-1` and `timestamp` `NOW` unless it sets them.
fn complete(fields: &Value) -> Value {
    let mut body = fields.clone();
    let map = body.as_object_mut().unwrap();
    map.entry("request_id").or_insert_with(|| json!("req-1"));
    map.entry("timestamp").or_insert_with(|| json!(NOW));
    body
}

fn body(fields: &Value) -> Vec<u8> {
    complete(fields).to_string().into_bytes()
}

/// The payload a git-ops request `fields` becomes (message, branch and request id only).
fn git_ops_payload(fields: &Value, correlation_id: &str) -> Value {
    let fields = complete(fields);
    json!({
        "branch": fields.get("branch").cloned().unwrap_or(json!("gitops/push")),
        "message": fields["message"],
        "correlation_id": correlation_id,
        "triggered_by": "odoo",
        "request_id": fields["request_id"],
    })
}

fn signed_with_correlation(body: &[u8], correlation_id: &str) -> Request {
    let signature = format!(
        "sha256={}",
        Secret::parse(SECRET).unwrap().sign_hex(body).as_str()
    );
    http::Request::post("/pulser/git-ops")
        .header("content-type", "application/json")
        .header("x-pulser-signature", signature)
        .header("x-correlation-id", correlation_id)
        .body(body.to_vec())
        .unwrap()
}

fn signed(body: &[u8]) -> Request {
    signed_with_correlation(body, CORRELATION)
}

fn send(p: &FakePlatform, fields: &Value) -> Response {
    block_on(handle(signed(&body(fields)), p))
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

// ---- what was sent ---------------------------------------------------------------------

fn json(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn text(response: &Response) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn to_github(p: &FakePlatform) -> Vec<Sent> {
    p.sent()
        .into_iter()
        .filter(|s| !s.url().starts_with("http://db.test/"))
        .collect()
}

fn to_postgrest(p: &FakePlatform) -> Vec<Sent> {
    p.sent()
        .into_iter()
        .filter(|s| s.url().starts_with("http://db.test/"))
        .collect()
}

fn exchanges(p: &FakePlatform) -> usize {
    p.sent()
        .iter()
        .filter(|s| s.url().ends_with("/access_tokens"))
        .count()
}

/// The PATCH that recorded the outcome: the last request to PostgREST.
fn outcome(p: &FakePlatform) -> Sent {
    let last = to_postgrest(p).pop().unwrap();
    assert_eq!(last.request.method(), http::Method::PATCH);
    assert_eq!(
        last.url(),
        format!("{ROWS}?request_id=eq.req-1&correlation_id=eq.{CORRELATION}")
    );
    last
}

// ---- a new request ---------------------------------------------------------------------

#[test]
fn git_ops_is_dispatched_with_the_exact_requests_and_recorded() {
    let p = dispatched_fresh(platform("exact"));
    let fields = json!({"branch": "gitops/push", "message": "hello", "kv_key": "version", "kv_value": "1.2"});
    let response = send(&p, &fields);
    assert_eq!(response.status(), 202, "{}", text(&response));
    assert_eq!(
        json(&response),
        json!({"ok": true, "event_type": "git-ops", "repository": "pulser/pulse-hub", "correlation_id": CORRELATION})
    );
    let payload = json!({
        "branch": "gitops/push", "message": "hello", "kv_key": "version", "kv_value": "1.2",
        "correlation_id": CORRELATION, "triggered_by": "odoo", "request_id": "req-1"});

    // 1. The row, claimed before anything goes to GitHub.
    let db = to_postgrest(&p);
    assert_eq!(db.len(), 2);
    assert_eq!(
        db[0].url(),
        format!("{ROWS}?on_conflict=request_id&select=request_id")
    );
    assert_eq!(db[0].request.method(), http::Method::POST);
    assert_eq!(
        db[0].header("prefer"),
        Some("resolution=ignore-duplicates,return=representation")
    );
    assert_eq!(db[0].header("apikey"), Some(SERVICE_KEY));
    assert_eq!(
        db[0].json(),
        json!({"request_id": "req-1", "event_type": "git-ops", "correlation_id": CORRELATION,
            "status": "dispatching", "requested_at": NOW_TEXT, "client_payload": payload})
    );

    // 2. GitHub: the token exchange, then the dispatch.
    let sent = to_github(&p);
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].url(),
        "http://exact.test/app/installations/31337/access_tokens"
    );
    assert_eq!(sent[0].json(), token_scope());
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    for s in &sent {
        assert_eq!(s.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(s.header("x-github-api-version"), Some("2022-11-28"));
        assert!(s.header("user-agent").is_some());
    }
    let jwt = sent[0]
        .header("authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    let c = claims(jwt);
    assert_eq!(c["iss"], "424242");
    assert_eq!(c["iat"], NOW - 60);
    assert_eq!(c["exp"], NOW + 540);
    assert_eq!(
        sent[1].url(),
        "http://exact.test/repos/pulser/pulse-hub/dispatches"
    );
    assert_eq!(sent[1].header("authorization"), Some("Bearer ghs_abc"));
    assert_eq!(
        sent[1].json(),
        json!({"event_type": "git-ops", "client_payload": payload})
    );

    // 3. The outcome, on this attempt's row.
    assert_eq!(
        outcome(&p).json(),
        json!({"status": "dispatched", "github_status": 204, "last_error": null})
    );
    assert_eq!(p.unused_replies(), 0);
}

#[test]
fn deploy_pulse_hub_carries_the_signed_timestamp_and_request_id() {
    let p = dispatched_fresh(platform("deploy"));
    // Signed 100 s ago, written with an offset: GitHub gets it in unix seconds, as the seed's
    // payload has it, and `triggered_by` defaults to the Odoo wizard.
    let response = send(
        &p,
        &json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1.2.3",
            "service": "web", "odoo_user": "admin", "request_id": "deploy-7",
            "timestamp": "2026-11-18T12:05:00+01:00"}),
    );
    assert_eq!(response.status(), 202, "{}", text(&response));
    let dispatched = to_github(&p)[1].json();
    assert_eq!(
        dispatched,
        json!({"event_type": "deploy_pulse_hub", "client_payload": {
            "environment": "staging", "image_tag": "v1.2.3", "service": "web",
            "correlation_id": CORRELATION, "timestamp": 1_794_999_900,
            "triggered_by": "odoo_wizard", "odoo_user": "admin", "request_id": "deploy-7"}})
    );
    let row = to_postgrest(&p)[0].json();
    assert_eq!(row["requested_at"], "2026-11-18T11:05:00Z");
    assert_eq!(row["event_type"], "deploy_pulse_hub");
    assert_eq!(row["client_payload"], dispatched["client_payload"]);
}

#[test]
fn a_correlation_id_that_is_not_a_uuid_gets_a_fresh_one_for_the_dispatch() {
    let p = dispatched_fresh(platform("not-uuid"));
    let response = block_on(handle(
        signed_with_correlation(&body(&message("m")), "corr-1"),
        &p,
    ));
    assert_eq!(response.status(), 202, "{}", text(&response));
    assert_eq!(response.headers()["x-correlation-id"], "corr-1");
    let id = json(&response)["correlation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(pulser_runtime::reply::is_uuid(&id), "{id}");
    assert_eq!(to_postgrest(&p)[0].json()["correlation_id"], id);
    assert_eq!(
        to_github(&p)[1].json()["client_payload"]["correlation_id"],
        id
    );
}

// ---- the replay window -----------------------------------------------------------------

fn stale(timestamp: Value) {
    let p = platform("stale");
    let response = send(&p, &json!({"message": "m", "timestamp": timestamp}));
    let body = assert_refusal(&response, 401, "stale_request");
    assert_eq!(body["field"], "timestamp");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("within 300 s") && message.contains("sign a fresh request"),
        "{message}"
    );
    assert!(p.sent().is_empty(), "nothing may be stored or dispatched");
}

#[test]
fn a_request_signed_301_s_ago_is_401_stale_request() {
    stale(json!(NOW - 301));
}

#[test]
fn a_request_signed_301_s_ahead_is_401_stale_request() {
    stale(json!(NOW + 301));
}

#[test]
fn a_replay_of_a_captured_request_hours_later_is_401_stale_request() {
    stale(json!("2026-11-18T08:00:00Z"));
}

#[test]
fn a_request_signed_300_s_ago_is_dispatched() {
    let p = dispatched_fresh(platform("edge"));
    let response = send(&p, &json!({"message": "m", "timestamp": NOW - 300}));
    assert_eq!(response.status(), 202, "{}", text(&response));
}

// ---- a request id seen before ----------------------------------------------------------

#[test]
fn a_replay_inside_the_window_of_a_dispatched_request_is_not_dispatched_again() {
    let p = row(
        seen_before(platform("replay")),
        "dispatched",
        "2026-11-18T11:06:30.5+00:00",
        &message("m"),
    );
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert_eq!(
        json(&response),
        json!({"ok": true, "duplicate": true, "status": "dispatched", "event_type": "git-ops",
            "repository": "pulser/pulse-hub", "correlation_id": EARLIER})
    );
    assert!(to_github(&p).is_empty(), "dispatched twice");
    let db = to_postgrest(&p);
    assert_eq!(db.len(), 2, "an insert and a read, nothing written");
    assert_eq!(db[1].request.method(), http::Method::GET);
    assert_eq!(
        db[1].url(),
        format!(
            "{ROWS}?request_id=eq.req-1&select=status%2Cevent_type%2Cclient_payload%2Ccorrelation_id%2Cupdated_at"
        )
    );
}

#[test]
fn a_retry_signed_again_later_is_still_a_duplicate() {
    let p = row(
        seen_before(platform("resigned")),
        "dispatched",
        "2026-11-18T10:00:00+00:00",
        &message("m"),
    );
    let response = send(&p, &json!({"message": "m", "timestamp": NOW_TEXT}));
    assert_eq!(response.status(), 200, "{}", text(&response));
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_failed_request_is_claimed_again_and_dispatched() {
    let p = recorded(accepted(token_reply(recorded(row(
        seen_before(platform("retry")),
        "failed",
        "2026-11-18T11:00:00+00:00",
        &message("m"),
    )))));
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 202, "{}", text(&response));
    assert_eq!(to_github(&p).len(), 2);
    let claim = &to_postgrest(&p)[2];
    assert_eq!(claim.request.method(), http::Method::PATCH);
    assert_eq!(
        claim.url(),
        format!("{ROWS}?request_id=eq.req-1&status=eq.failed")
    );
    assert_eq!(
        claim.json(),
        json!({"status": "dispatching", "correlation_id": CORRELATION,
            "requested_at": NOW_TEXT, "client_payload": git_ops_payload(&message("m"), CORRELATION),
            "github_status": null, "last_error": null})
    );
    assert_eq!(outcome(&p).json()["status"], "dispatched");
}

#[test]
fn a_failed_request_claimed_first_by_another_retry_is_409_in_progress() {
    let p = row(
        seen_before(platform("race")),
        "failed",
        "2026-11-18T11:00:00+00:00",
        &message("m"),
    )
    .reply(200, "[]");
    let response = send(&p, &message("m"));
    let _ = assert_refusal(&response, 409, "dispatch_in_progress");
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_request_being_dispatched_is_409_in_progress() {
    let p = row(
        seen_before(platform("busy")),
        "dispatching",
        "2026-11-18T11:06:39+00:00",
        &message("m"),
    );
    let body = assert_refusal(&send(&p, &message("m")), 409, "dispatch_in_progress");
    assert!(body["message"].as_str().unwrap().contains("req-1"));
    assert!(to_github(&p).is_empty());
    assert_eq!(to_postgrest(&p).len(), 2);
}

#[test]
fn a_request_whose_outcome_is_unknown_is_409_and_never_sent_again() {
    let p = row(
        seen_before(platform("unknown")),
        "unknown",
        "2026-11-18T11:06:00+00:00",
        &message("m"),
    );
    let body = assert_refusal(&send(&p, &message("m")), 409, "dispatch_outcome_unknown");
    let text = body["message"].as_str().unwrap();
    assert!(
        text.contains("GitHub may have received it")
            && text.contains("no idempotency key")
            && text.contains("new request_id"),
        "{text}"
    );
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_claim_abandoned_past_its_lease_becomes_unknown() {
    let p = recorded(row(
        seen_before(platform("abandoned")),
        "dispatching",
        "2026-11-18T11:04:39+00:00",
        &message("m"),
    ));
    let _ = assert_refusal(&send(&p, &message("m")), 409, "dispatch_outcome_unknown");
    let give_up = &to_postgrest(&p)[2];
    assert_eq!(
        give_up.url(),
        format!(
            "{ROWS}?request_id=eq.req-1&status=eq.dispatching&updated_at=lt.2026-11-18T11%3A04%3A40Z"
        )
    );
    assert_eq!(give_up.json()["status"], "unknown");
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_request_id_used_for_a_different_request_is_422() {
    let p = row(
        seen_before(platform("reused")),
        "dispatched",
        "2026-11-18T11:06:00+00:00",
        &message("the first one"),
    );
    let body = assert_refusal(&send(&p, &message("another one")), 422, "validation_failed");
    assert_eq!(body["field"], "request_id");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already used for a different request")
    );
    assert!(to_github(&p).is_empty());
}

// ---- GitHub's outcome on the row -------------------------------------------------------

#[test]
fn a_dispatch_github_refuses_is_recorded_failed_with_its_status() {
    let p = recorded(
        token_reply(inserted(platform("refused"))).reply(422, r#"{"message":"Invalid request"}"#),
    );
    let response = send(&p, &message("m"));
    let body = assert_refusal(&response, 502, "dispatch_failed");
    assert_eq!(body["github_status"], 422);
    assert_eq!(
        outcome(&p).json(),
        json!({"status": "failed", "github_status": 422, "last_error": "Invalid request"})
    );
}

#[test]
fn a_token_exchange_failure_is_recorded_failed() {
    let p = recorded(inserted(platform("tokfail")).reply(500, r#"{"message":"boom"}"#));
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 502);
    let body = json(&response);
    assert_eq!(body["error"], "token_exchange_failed");
    assert_eq!(body["github_status"], 500);
    assert_eq!(body["message"], "boom");
    let recorded = outcome(&p).json();
    assert_eq!(
        (&recorded["status"], &recorded["github_status"]),
        (&json!("failed"), &json!(500))
    );
}

#[test]
fn a_dispatch_without_an_answer_is_recorded_unknown() {
    let p = recorded(token_reply(inserted(platform("timeout"))).fail(OutboundError::Timeout));
    let body = assert_refusal(&send(&p, &message("m")), 502, "dispatch_outcome_unknown");
    assert_eq!(body["github_status"], Value::Null);
    assert!(body["message"].as_str().unwrap().contains("not sent again"));
    let recorded = outcome(&p).json();
    assert_eq!(recorded["status"], "unknown");
    assert_eq!(recorded["github_status"], Value::Null);
    assert!(
        recorded["last_error"]
            .as_str()
            .unwrap()
            .contains("timed out")
    );
}

#[test]
fn a_lost_connection_on_the_dispatch_is_recorded_unknown() {
    let p = recorded(
        token_reply(inserted(platform("reset"))).fail(OutboundError::Connection("reset".into())),
    );
    let _ = assert_refusal(&send(&p, &message("m")), 502, "dispatch_outcome_unknown");
    assert_eq!(outcome(&p).json()["status"], "unknown");
}

#[test]
fn a_dispatch_that_never_left_is_recorded_failed() {
    let p = recorded(
        token_reply(inserted(platform("unreachable")))
            .fail(OutboundError::Unreachable("connection refused".into())),
    );
    let body = assert_refusal(&send(&p, &message("m")), 502, "dispatch_failed");
    assert_eq!(body["github_status"], Value::Null);
    assert_eq!(outcome(&p).json()["status"], "failed");
}

#[test]
fn an_outcome_that_cannot_be_recorded_still_answers_githubs_and_is_logged() {
    let p = accepted(token_reply(inserted(platform("unrecorded")))).fail(OutboundError::Timeout);
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 202, "{}", text(&response));
    let logs = p.logs();
    assert!(
        logs.iter().any(|l| l.contains(r#""level":"error""#)
            && l.contains("not recorded")
            && l.contains(r#""status":"dispatched""#)),
        "{logs:?}"
    );
}

// ---- PostgREST before the dispatch -----------------------------------------------------

#[test]
fn postgrest_down_before_the_dispatch_is_503_and_nothing_reaches_github() {
    let p = platform("db-down").reply(503, "");
    let response = send(&p, &message("m"));
    let _ = assert_refusal(&response, 503, "store_unavailable");
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(to_github(&p).is_empty());
}

#[test]
fn an_insert_without_an_answer_is_503_store_outcome_unknown() {
    let p = platform("db-timeout").fail(OutboundError::Timeout);
    let _ = assert_refusal(&send(&p, &message("m")), 503, "store_outcome_unknown");
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_failing_read_of_a_seen_request_id_is_503() {
    let p = seen_before(platform("read-down")).fail(OutboundError::Timeout);
    let _ = assert_refusal(&send(&p, &message("m")), 503, "store_unavailable");
    assert!(to_github(&p).is_empty());
}

#[test]
fn a_row_neither_stored_nor_found_is_502_store_rejected() {
    let p = seen_before(platform("vanished")).reply(200, "[]");
    let _ = assert_refusal(&send(&p, &message("m")), 502, "store_rejected");
    assert!(to_github(&p).is_empty());
}

// ---- the installation token ------------------------------------------------------------

#[test]
fn the_token_is_reused_within_an_instance() {
    let p = recorded(accepted(inserted(dispatched_fresh(platform("reuse")))));
    assert_eq!(send(&p, &message("one")).status(), 202);
    let second = json!({"message": "one", "request_id": "req-2"});
    assert_eq!(send(&p, &second).status(), 202);
    assert_eq!(exchanges(&p), 1);
}

#[test]
fn the_token_lands_in_the_platform_cache_under_the_installation() {
    let p = dispatched_fresh(platform("stored"));
    assert_eq!(send(&p, &message("one")).status(), 202);
    assert_eq!(
        p.cache_keys(),
        ["pulser-edge/github-installation-token/31337"]
    );
    let stored = String::from_utf8(
        pulser_runtime::Platform::cache_get(&p, "pulser-edge/github-installation-token/31337")
            .unwrap(),
    )
    .unwrap();
    // cache key, expiry (2026-11-18T12:06:40Z), minted at, token.
    assert_eq!(
        stored,
        format!(
            "http://stored.test|424242|31337|pulse-hub\n{}\n{NOW}\nghs_abc",
            NOW + 3600
        )
    );
}

#[test]
fn a_cached_token_of_another_api_url_or_app_is_not_used() {
    let p = recorded(accepted(inserted(platform("mine")).reply(
        201,
        r#"{"token":"ghs_mine","expires_at":"2026-11-18T12:06:40Z"}"#,
    )));
    pulser_runtime::Platform::cache_put(
        &p,
        "pulser-edge/github-installation-token/31337",
        format!(
            "http://other.test|424242|31337\n{}\n{NOW}\nghs_other",
            NOW + 3600
        )
        .as_bytes(),
    );
    assert_eq!(send(&p, &message("one")).status(), 202);
    assert_eq!(exchanges(&p), 1);
    assert_eq!(
        to_github(&p)[1].header("authorization"),
        Some("Bearer ghs_mine")
    );
}

#[test]
fn a_cached_token_for_another_repository_is_not_used() {
    // Tokens are scoped to one repository: one minted for another is no use here.
    let p = recorded(accepted(inserted(platform("repo")).reply(
        201,
        r#"{"token":"ghs_mine","expires_at":"2026-11-18T12:06:40Z"}"#,
    )));
    for other in ["|other-repo", ""] {
        pulser_runtime::Platform::cache_put(
            &p,
            "pulser-edge/github-installation-token/31337",
            format!(
                "http://repo.test|424242|31337{other}\n{}\n{NOW}\nghs_other",
                NOW + 3600
            )
            .as_bytes(),
        );
    }
    assert_eq!(send(&p, &message("one")).status(), 202);
    assert_eq!(exchanges(&p), 1);
    assert_eq!(
        to_github(&p)[1].header("authorization"),
        Some("Bearer ghs_mine")
    );
}

#[test]
fn a_token_within_a_minute_of_expiry_is_replaced() {
    let p = recorded(accepted(inserted(platform("expiring")).reply(
        201,
        r#"{"token":"ghs_old","expires_at":"2026-11-18T11:08:40Z"}"#,
    )));
    let p = recorded(accepted(inserted(p)));
    let p = recorded(accepted(inserted(p).reply(
        201,
        r#"{"token":"ghs_new","expires_at":"2026-11-18T12:08:40Z"}"#,
    )));
    assert_eq!(send(&p, &message("one")).status(), 202);
    // 120 s left: still used. 59 s left: replaced.
    let second = json!({"message": "one", "request_id": "req-2"});
    assert_eq!(send(&p, &second).status(), 202);
    assert_eq!(exchanges(&p), 1);
    p.set_now(NOW + 61);
    let third = json!({"message": "one", "request_id": "req-3"});
    assert_eq!(send(&p, &third).status(), 202);
    assert_eq!(exchanges(&p), 2);
    assert_eq!(
        to_github(&p).last().unwrap().header("authorization"),
        Some("Bearer ghs_new")
    );
}

#[test]
fn a_fresh_instance_starts_without_a_token() {
    let first = dispatched_fresh(platform("fresh"));
    let second = dispatched_fresh(platform("fresh"));
    assert_eq!(send(&first, &message("one")).status(), 202);
    assert_eq!(send(&second, &message("one")).status(), 202);
    assert_eq!(exchanges(&first), 1);
    assert_eq!(exchanges(&second), 1);
}

#[test]
fn a_host_with_native_rsa_signs_the_jwt() {
    use std::cell::RefCell;
    use std::rc::Rc;
    type Calls = Vec<(Vec<u8>, Vec<u8>)>;
    let seen: Rc<RefCell<Calls>> = Rc::default();
    let record = Rc::clone(&seen);
    let p = dispatched_fresh(platform("native")).with_native_rs256(move |der, message| {
        record.borrow_mut().push((der.to_vec(), message.to_vec()));
        Ok(vec![1, 2, 3])
    });
    assert_eq!(send(&p, &message("one")).status(), 202);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let (der, message) = &seen[0];
    // The key as PKCS#8 DER, and exactly the JWT's signing input.
    assert_eq!(
        der,
        &pulser_signing::github_app::pkcs8_der_from_setting(&key_base64()).unwrap()
    );
    let jwt = to_github(&p)[0]
        .header("authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let (input, signature) = jwt.rsplit_once('.').unwrap();
    assert_eq!(input.as_bytes(), message.as_slice());
    assert_eq!(signature, URL_SAFE_NO_PAD.encode([1, 2, 3]));
    assert_eq!(claims(&jwt)["iss"], "424242");
    assert_eq!(claims(&jwt)["iat"], NOW - 60);
    assert!(p.logs().iter().any(|l| l.contains(r#""signer":"host""#)));
}

#[test]
fn a_failing_native_signer_is_a_config_error_and_nothing_reaches_github() {
    let p = recorded(inserted(platform("native-fail")))
        .with_native_rs256(|_, _| Err("DataError: bad key".into()));
    let response = send(&p, &message("one"));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["error"], "invalid_config");
    assert!(to_github(&p).is_empty());
    // Nothing was sent, so a retry with the same request_id may dispatch once the key is fixed.
    assert_eq!(outcome(&p).json()["status"], "failed");
}

#[test]
fn without_native_rsa_the_jwt_is_signed_in_rust() {
    let p = dispatched_fresh(platform("rust-signer"));
    assert_eq!(send(&p, &message("one")).status(), 202);
    assert!(p.logs().iter().any(|l| l.contains(r#""signer":"rust""#)));
}

#[test]
fn a_skewed_github_clock_is_recovered_once() {
    let p = recorded(accepted(
        inserted(platform("skew"))
            .reply_with_headers(
                401,
                &[("date", "Wed, 18 Nov 2026 10:06:40 GMT")],
                r#"{"message":"'Expiration time' claim ('exp') is too far in the future"}"#,
            )
            .reply(
                201,
                r#"{"token":"ghs_skew","expires_at":"2026-11-18T11:06:40Z"}"#,
            ),
    ));
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 202, "{}", text(&response));
    let second = claims(
        to_github(&p)[1]
            .header("authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap(),
    );
    // GitHub's clock (the Date header) is 1 h behind ours.
    assert_eq!(second["iat"], NOW - 3600 - 60);
    // The re-signed exchange asks for the same scope.
    let sent = to_github(&p);
    assert_eq!(
        (sent[0].json(), sent[1].json()),
        (token_scope(), token_scope())
    );
}

#[test]
fn dispatch_404_is_explained() {
    let p = recorded(
        token_reply(inserted(platform("notfound"))).reply(404, r#"{"message":"Not Found"}"#),
    );
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 502);
    let body = json(&response);
    assert_eq!(body["error"], "dispatch_failed");
    assert!(body["message"].as_str().unwrap().contains("not installed"));
}

#[test]
fn a_401_on_dispatch_is_retried_once_with_a_fresh_token() {
    let p = recorded(accepted(
        token_reply(inserted(platform("retry401")))
            .reply(401, r#"{"message":"Bad credentials"}"#)
            .reply(
                201,
                r#"{"token":"ghs_two","expires_at":"2026-11-18T12:06:40Z"}"#,
            ),
    ));
    assert_eq!(send(&p, &message("m")).status(), 202);
    assert_eq!(
        to_github(&p)[3].header("authorization"),
        Some("Bearer ghs_two")
    );
}

#[test]
fn github_unreachable_is_502() {
    let p = recorded(inserted(platform("down")).fail(OutboundError::Connection("refused".into())));
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 502);
    assert_eq!(json(&response)["github_status"], Value::Null);
    // The token exchange never gave a token: no dispatch went out.
    assert_eq!(outcome(&p).json()["status"], "failed");
}

// ---- validation ------------------------------------------------------------------------

fn rejected_bytes(body: &[u8], field: &str) -> Value {
    let p = platform(&format!("invalid-{field}"));
    let response = block_on(handle(signed(body), &p));
    let answer = assert_refusal(&response, 422, "validation_failed");
    assert_eq!(answer["field"], field, "{answer}");
    assert!(p.sent().is_empty(), "nothing may be stored or reach GitHub");
    answer
}

fn rejected(fields: &Value, field: &str) -> Value {
    rejected_bytes(&body(fields), field)
}

#[test]
fn missing_request_id() {
    let answer = rejected_bytes(
        json!({"message": "m", "timestamp": NOW})
            .to_string()
            .as_bytes(),
        "request_id",
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("idempotency key")
    );
}
#[test]
fn empty_request_id() {
    rejected(&json!({"message": "m", "request_id": ""}), "request_id");
}
#[test]
fn request_id_with_a_space() {
    rejected(&json!({"message": "m", "request_id": "a b"}), "request_id");
}
#[test]
fn overlong_request_id() {
    rejected(
        &json!({"message": "m", "request_id": "r".repeat(129)}),
        "request_id",
    );
}
#[test]
fn request_id_that_is_a_number() {
    rejected(&json!({"message": "m", "request_id": 42}), "request_id");
}
#[test]
fn missing_timestamp() {
    let answer = rejected_bytes(
        json!({"message": "m", "request_id": "req-1"})
            .to_string()
            .as_bytes(),
        "timestamp",
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("RFC 3339 or unix seconds")
    );
}
#[test]
fn timestamp_that_is_not_a_time() {
    rejected(
        &json!({"message": "m", "timestamp": "yesterday"}),
        "timestamp",
    );
}
#[test]
fn timestamp_in_milliseconds_is_stale_not_invalid() {
    // Unix milliseconds parse as seconds tens of thousands of years ahead.
    stale(json!(NOW * 1000));
}
#[test]
fn timestamp_with_a_fraction_of_a_second_as_a_number() {
    rejected(&json!({"message": "m", "timestamp": 1.5}), "timestamp");
}
#[test]
fn negative_timestamp() {
    rejected(&json!({"message": "m", "timestamp": -1}), "timestamp");
}
#[test]
fn invalid_branch() {
    rejected(&json!({"branch": "bad..ref", "message": "m"}), "branch");
}
#[test]
fn branch_head() {
    rejected(&json!({"branch": "HEAD", "message": "m"}), "branch");
}
#[test]
fn branch_as_a_full_ref() {
    rejected(
        &json!({"branch": "refs/heads/main", "message": "m"}),
        "branch",
    );
}
#[test]
fn branch_as_a_tag_ref() {
    rejected(&json!({"branch": "refs/tags/v1", "message": "m"}), "branch");
}
#[test]
fn missing_message() {
    rejected(&json!({"branch": "main"}), "message");
}
#[test]
fn empty_message() {
    rejected(&message(""), "message");
}
#[test]
fn overlong_message() {
    rejected(&message(&"m".repeat(1001)), "message");
}
#[test]
fn message_with_a_nul() {
    rejected(&message("a\u{0}b"), "message");
}
#[test]
fn message_with_a_terminal_escape() {
    rejected(&message("a\u{1b}[2Jb"), "message");
}
#[test]
fn message_with_a_carriage_return() {
    rejected(&message("subject\r\nbody"), "message");
}
#[test]
fn message_with_a_c1_control() {
    rejected(&message("a\u{9b}31mb"), "message");
}
#[test]
fn message_with_del() {
    rejected(&message("a\u{7f}b"), "message");
}
#[test]
fn a_multi_line_message_with_tabs_is_dispatched() {
    let p = dispatched_fresh(platform("multi-line"));
    let text = "subject\n\n\t- one\n\t- two";
    assert_eq!(send(&p, &message(text)).status(), 202);
    assert_eq!(to_github(&p)[1].json()["client_payload"]["message"], text);
}
#[test]
fn empty_triggered_by() {
    rejected(&json!({"message": "m", "triggered_by": ""}), "triggered_by");
}
#[test]
fn overlong_triggered_by() {
    rejected(
        &json!({"message": "m", "triggered_by": "t".repeat(101)}),
        "triggered_by",
    );
}
#[test]
fn triggered_by_with_a_newline() {
    rejected(
        &json!({"message": "m", "triggered_by": "odoo\nadmin"}),
        "triggered_by",
    );
}
#[test]
fn triggered_by_with_a_c1_control() {
    rejected(
        &json!({"message": "m", "triggered_by": "odoo\u{85}"}),
        "triggered_by",
    );
}
#[test]
fn triggered_by_that_is_a_number() {
    rejected(&json!({"message": "m", "triggered_by": 7}), "triggered_by");
}
#[test]
fn a_named_triggered_by_is_dispatched() {
    let p = dispatched_fresh(platform("triggered-by"));
    let who = "Ada Lovelace <ada@example.com>";
    assert_eq!(
        send(&p, &json!({"message": "m", "triggered_by": who})).status(),
        202
    );
    assert_eq!(
        to_github(&p)[1].json()["client_payload"]["triggered_by"],
        who
    );
}
#[test]
fn invalid_kv_key() {
    rejected(&json!({"message": "m", "kv_key": ".."}), "kv_key");
}
#[test]
fn kv_value_without_key() {
    rejected(&json!({"message": "m", "kv_value": "v"}), "kv_value");
}
#[test]
fn overlong_kv_value() {
    rejected(
        &json!({"message": "m", "kv_key": "k", "kv_value": "v".repeat(4097)}),
        "kv_value",
    );
}
#[test]
fn unknown_environment() {
    rejected(
        &json!({"event_type": "deploy_pulse_hub", "environment": "dev", "image_tag": "v1", "service": "web"}),
        "environment",
    );
}
#[test]
fn unknown_service() {
    rejected(
        &json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1", "service": "db"}),
        "service",
    );
}
#[test]
fn invalid_image_tag() {
    rejected(
        &json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "-v1", "service": "web"}),
        "image_tag",
    );
}
#[test]
fn odoo_user_with_a_newline() {
    rejected(
        &json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1",
            "service": "web", "odoo_user": "admin\nroot"}),
        "odoo_user",
    );
}
#[test]
fn odoo_user_with_a_c1_control() {
    rejected(
        &json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1",
            "service": "web", "odoo_user": "admin\u{9b}"}),
        "odoo_user",
    );
}
#[test]
fn unknown_event_type() {
    rejected(
        &json!({"event_type": "other", "message": "m"}),
        "event_type",
    );
}
#[test]
fn not_an_object() {
    rejected_bytes(b"[]", "body");
}

// ---- the branch prefix -----------------------------------------------------------------

fn under_prefix(api: &str) -> FakePlatform {
    platform(api).with_config("GITOPS_BRANCH_PREFIX", "gitops/")
}

#[test]
fn a_branch_under_the_prefix_is_dispatched() {
    let p = dispatched_fresh(under_prefix("prefix-ok"));
    let fields = json!({"branch": "gitops/release-7", "message": "m"});
    assert_eq!(send(&p, &fields).status(), 202);
    assert_eq!(
        to_github(&p)[1].json()["client_payload"]["branch"],
        "gitops/release-7"
    );
}

#[test]
fn a_branch_outside_the_prefix_is_422_and_nothing_is_sent() {
    let p = under_prefix("prefix-outside");
    let response = send(&p, &json!({"branch": "main", "message": "m"}));
    let answer = assert_refusal(&response, 422, "validation_failed");
    assert_eq!(answer["field"], "branch");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("GITOPS_BRANCH_PREFIX")
    );
    assert!(p.sent().is_empty());
}

#[test]
fn the_default_branch_must_be_under_the_prefix_too() {
    let p = platform("prefix-default").with_config("GITOPS_BRANCH_PREFIX", "release/");
    let response = send(&p, &message("m"));
    assert_eq!(
        assert_refusal(&response, 422, "validation_failed")["field"],
        "branch"
    );
    assert!(p.sent().is_empty());
}

#[test]
fn a_prefix_no_branch_can_start_with_is_500_invalid_config() {
    let p = platform("prefix-bad").with_config("GITOPS_BRANCH_PREFIX", "refs/heads/");
    let response = send(&p, &json!({"branch": "refs/heads/x", "message": "m"}));
    let answer = assert_refusal(&response, 500, "invalid_config");
    assert_eq!(answer["name"], "GITOPS_BRANCH_PREFIX");
    assert!(p.sent().is_empty());
}

// ---- who may dispatch ------------------------------------------------------------------

fn unauthorized(request: Request) {
    let p = platform("unauth");
    let response = block_on(handle(request, &p));
    assert_eq!(response.status(), 401);
    assert_eq!(json(&response)["error"], "unauthorized");
    assert!(p.sent().is_empty());
}

#[test]
fn missing_signature() {
    let mut request = signed(&body(&message("m")));
    request.headers_mut().remove("x-pulser-signature");
    unauthorized(request);
}
#[test]
fn wrong_signature() {
    let mut request = signed(&body(&message("m")));
    request.headers_mut().insert(
        "x-pulser-signature",
        format!("sha256={}", "0".repeat(64)).parse().unwrap(),
    );
    unauthorized(request);
}
#[test]
fn a_timestamp_changed_after_signing_is_unauthorized() {
    let signed_body = body(&message("m"));
    let mut request = signed(&signed_body);
    let moved = String::from_utf8(signed_body)
        .unwrap()
        .replace(&NOW.to_string(), &(NOW + 1).to_string());
    *request.body_mut() = moved.into_bytes();
    unauthorized(request);
}
#[test]
fn wrong_shared_secret_header() {
    let mut request = signed(&body(&message("m")));
    request
        .headers_mut()
        .insert("x-pulser-secret", "nope".parse().unwrap());
    unauthorized(request);
}
fn with_shared_secret(sent: &str) -> Request {
    let mut request = signed(&body(&message("m")));
    request
        .headers_mut()
        .insert("x-pulser-secret", sent.parse().unwrap());
    request
}
#[test]
fn a_prefix_of_the_shared_secret_is_unauthorized() {
    unauthorized(with_shared_secret(&SECRET[..SECRET.len() - 1]));
}
#[test]
fn the_shared_secret_with_more_after_it_is_unauthorized() {
    unauthorized(with_shared_secret(&format!("{SECRET}x")));
}
#[test]
fn an_empty_shared_secret_header_is_unauthorized() {
    unauthorized(with_shared_secret(""));
}
#[test]
fn a_shared_secret_header_equal_to_the_secret_list_is_unauthorized() {
    let p = platform("shared-list").with_config(
        "PULSER_WEBHOOK_SECRET",
        &format!("old-secret-0123456,{SECRET}"),
    );
    let response = block_on(handle(
        with_shared_secret(&format!("old-secret-0123456,{SECRET}")),
        &p,
    ));
    let answer = assert_refusal(&response, 401, "unauthorized");
    assert_eq!(answer["header"], "x-pulser-secret");
    assert!(p.sent().is_empty());
}
#[test]
fn the_second_of_two_rotation_secrets_is_accepted_as_the_shared_secret() {
    let p = dispatched_fresh(platform("shared-rotation")).with_config(
        "PULSER_WEBHOOK_SECRET",
        &format!("old-secret-0123456, {SECRET}"),
    );
    assert_eq!(
        block_on(handle(with_shared_secret(SECRET), &p)).status(),
        202
    );
}
#[test]
fn right_shared_secret_header_is_accepted() {
    let p = dispatched_fresh(platform("shared"));
    let mut request = signed(&body(&message("m")));
    request
        .headers_mut()
        .insert("x-pulser-secret", SECRET.parse().unwrap());
    assert_eq!(block_on(handle(request, &p)).status(), 202);
}

#[test]
fn missing_secret_is_500_missing_config() {
    let p = FakePlatform::new(NOW);
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["name"], "PULSER_WEBHOOK_SECRET");
}

#[test]
fn missing_app_key_is_500_naming_it() {
    let p = FakePlatform::new(NOW)
        .with_config("PULSER_WEBHOOK_SECRET", SECRET)
        .with_config("GITHUB_APP_ID", "1")
        .with_config("GITHUB_INSTALLATION_ID", "2");
    let response = send(&p, &message("m"));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["name"], "GITHUB_APP_PRIVATE_KEY_BASE64");
}

#[test]
fn no_secret_in_answers_or_logs() {
    let p = dispatched_fresh(platform("secrets"));
    let response = send(&p, &message("m"));
    let text = pulser_runtime::testing::everything_seen(&response, &p);
    assert!(!text.contains("ghs_abc") && !text.contains(&key_base64()));
    pulser_runtime::testing::assert_no_secret(&p, git_ops_dispatch::settings::TABLE, &text);
}

pulser_runtime::conformance! {
    handle: git_ops_dispatch::handle,
    spec: git_ops_dispatch::SPEC,
    settings: git_ops_dispatch::settings::TABLE,
    platform: || platform("api"),
    request: signed,
    credentials: &["x-pulser-signature"],
    authenticated_by: &["PULSER_WEBHOOK_SECRET"],
    body: format!(r#"{{"branch":"main","message":"conformance","request_id":"c-1","timestamp":{NOW}}}"#).as_bytes(),
}
