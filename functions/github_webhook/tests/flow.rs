#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The endpoint driven natively on a scripted platform: exact PostgREST requests, every
//! refusal its own test, nothing sent when a delivery is refused.

use github_webhook::handle;
use pulser_runtime::testing::{FakePlatform, block_on};
use pulser_runtime::{OutboundError, Request, Response};
use pulser_signing::Secret;
use serde_json::Value;

const NOW: u64 = 1_795_000_000;
const SECRET: &str = "It's a Secret to Everybody";
const KEY: &str = "service-role-key";

fn platform() -> FakePlatform {
    FakePlatform::new(NOW)
        .with_config("GITHUB_WEBHOOK_SECRET", SECRET)
        .with_config("SUPABASE_URL", "http://db.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", KEY)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/github")
            .join(name),
    )
    .unwrap()
}

fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        Secret::parse(secret).unwrap().sign_hex(body).as_str()
    )
}

fn delivery(event: &str, body: &[u8], signature: Option<&str>) -> Request {
    let mut builder = http::Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", DELIVERY);
    if let Some(signature) = signature {
        builder = builder.header("x-hub-signature-256", signature);
    }
    builder.body(body.to_vec()).unwrap()
}

fn signed(event: &str, body: &[u8]) -> Request {
    delivery(event, body, Some(&sign(SECRET, body)))
}

fn json(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn refused(platform: &FakePlatform, request: Request, status: u16, code: &str) -> Value {
    let response = block_on(handle(request, platform));
    assert_eq!(
        response.status(),
        status,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let body = json(&response);
    assert_eq!(body["error"], code);
    assert!(
        platform.sent().is_empty(),
        "nothing may be sent for a refused delivery"
    );
    assert!(response.headers().contains_key("x-correlation-id"));
    body
}

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

/// The golden row of `name` (tests/fixtures/github/<name>.expected.json) as the flow must
/// send it for the delivery `body`: this test's delivery id, the body's SHA-256 (computed
/// with the sha2 crate, independently of the function), serialized as the function does.
fn golden_row(name: &str, body: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut row: Value =
        serde_json::from_slice(&fixture(&format!("{name}.expected.json"))).unwrap();
    row["delivery_id"] = DELIVERY.into();
    row["meta"]["delivery_id"] = DELIVERY.into();
    let digest: String = sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    row["body_sha256"] = digest.into();
    serde_json::to_vec(&row).unwrap()
}

/// Asserts the one PostgREST request: method, URL, every header, body bytes.
fn assert_one_insert(p: &FakePlatform, body: &[u8]) {
    let sent = p.sent();
    assert_eq!(sent.len(), 1, "exactly one request to PostgREST");
    let insert = &sent[0];
    assert_eq!(insert.request.method(), http::Method::POST);
    assert_eq!(
        insert.url(),
        "http://db.test/rest/v1/oasis_events?on_conflict=body_sha256&select=id"
    );
    let mut headers: Vec<(String, String)> = insert
        .request
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    assert_eq!(
        headers,
        [
            ("accept", "application/json"),
            ("apikey", KEY),
            ("authorization", "Bearer service-role-key"),
            ("content-type", "application/json"),
            (
                "prefer",
                "resolution=ignore-duplicates,return=representation"
            ),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(
        String::from_utf8_lossy(insert.request.body()),
        String::from_utf8_lossy(body)
    );
    assert!(
        insert.timeout.as_secs() < 10,
        "GitHub waits 10 s for the whole delivery"
    );
}

#[test]
fn workflow_run_is_inserted_once_with_the_exact_request() {
    let p = platform().reply(201, r#"[{"id":7}]"#);
    let body = fixture("workflow_run.completed.success.json");
    let response = block_on(handle(signed("workflow_run", &body), &p));
    assert_eq!(response.status(), 201);
    assert_eq!(
        json(&response),
        serde_json::json!({
            "id": 7,
            "delivery_id": DELIVERY,
            "vtid": "UNSET",
            "status": "success",
            "title": "UNSET-WORKFLOW-COMPLETED",
        })
    );
    assert_one_insert(&p, &golden_row("workflow_run.completed.success", &body));
}

#[test]
fn every_stored_fixture_is_sent_as_its_golden_row() {
    for name in [
        "check_run.completed.failure",
        "check_run.completed.success",
        "check_run.created",
        "pull_request.closed.unmerged",
        "pull_request.opened",
        "push",
        "push.with-new-branch",
        "workflow_run.completed.success.with-pull-requests",
        "workflow_run.requested",
    ] {
        let p = platform().reply(201, r#"[{"id":1}]"#);
        let event = name.split('.').next().unwrap();
        let body = fixture(&format!("{name}.json"));
        let response = block_on(handle(signed(event, &body), &p));
        assert_eq!(response.status(), 201, "{name}");
        assert_one_insert(&p, &golden_row(name, &body));
    }
}

/// Derived case: no upstream example of a merged PR exists, so the closed one is edited,
/// re-serialized and signed like GitHub would.
#[test]
fn merged_pull_request_derived_from_a_fixture_is_stored_as_a_success() {
    let mut body: Value =
        serde_json::from_slice(&fixture("pull_request.closed.unmerged.json")).unwrap();
    body["pull_request"]["merged"] = true.into();
    body["pull_request"]["title"] = "DEV-CICDL-0031: ship the edge".into();
    let body = serde_json::to_vec(&body).unwrap();
    let p = platform().reply(201, r#"[{"id":9}]"#);
    let response = block_on(handle(signed("pull_request", &body), &p));
    assert_eq!(response.status(), 201);
    let mut row: Value =
        serde_json::from_slice(&golden_row("pull_request.closed.unmerged", &body)).unwrap();
    row["vtid"] = "DEV-CICDL-0031".into();
    row["layer"] = "CICDL".into();
    row["status"] = "success".into();
    row["title"] = "CICDL-PR-MERGED".into();
    row["meta"]["merged"] = true.into();
    row["meta"]["pr_title"] = "DEV-CICDL-0031: ship the edge".into();
    assert_one_insert(&p, &serde_json::to_vec(&row).unwrap());
}

/// Derived case: no upstream example of a failed workflow run exists.
#[test]
fn failed_workflow_run_derived_from_a_fixture_is_stored_as_a_failure() {
    let mut body: Value =
        serde_json::from_slice(&fixture("workflow_run.completed.success.json")).unwrap();
    body["workflow_run"]["conclusion"] = "failure".into();
    body["workflow_run"]["head_branch"] = "feature/OPS-GW2-0007-retry".into();
    let body = serde_json::to_vec(&body).unwrap();
    let p = platform().reply(201, r#"[{"id":10}]"#);
    let response = block_on(handle(signed("workflow_run", &body), &p));
    assert_eq!(response.status(), 201);
    let mut row: Value =
        serde_json::from_slice(&golden_row("workflow_run.completed.success", &body)).unwrap();
    row["vtid"] = "OPS-GW2-0007".into();
    row["layer"] = "GW2".into();
    row["status"] = "failure".into();
    row["title"] = "GW2-WORKFLOW-COMPLETED".into();
    row["ref"] = "feature/OPS-GW2-0007-retry".into();
    row["meta"]["conclusion"] = "failure".into();
    assert_one_insert(&p, &serde_json::to_vec(&row).unwrap());
}

#[test]
fn redelivery_is_a_duplicate_and_says_so() {
    let p = platform().reply(201, "[]");
    let body = fixture("push.json");
    let response = block_on(handle(signed("push", &body), &p));
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response)["duplicate"], true);
}

/// The digest is the conflict target; a 409 can only come from the delivery id's own unique
/// key (a different body under a GUID already stored): a delivery already seen, not an error.
#[test]
fn a_conflict_on_the_delivery_id_is_a_duplicate_too() {
    let p = platform().reply(
        409,
        r#"{"code":"23505","message":"duplicate key value violates unique constraint \"oasis_events_delivery_id_key\""}"#,
    );
    let response = block_on(handle(signed("push", &fixture("push.json")), &p));
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response)["duplicate"], true);
}

/// PostgREST may have committed an insert it never answered: GitHub should redeliver, and
/// the digest keeps that redelivery from storing a second row.
#[test]
fn an_insert_without_an_answer_is_an_unknown_outcome() {
    let p = platform().fail(pulser_runtime::OutboundError::Timeout);
    let response = block_on(handle(signed("push", &fixture("push.json")), &p));
    let body = pulser_runtime::testing::assert_refusal(&response, 503, "store_outcome_unknown");
    assert!(
        body["message"].as_str().unwrap().contains("repeat"),
        "{body}"
    );
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(
        p.sent().len(),
        1,
        "one insert, not repeated by the function"
    );
}

#[test]
fn ping_answers_pong_and_stores_nothing() {
    let p = platform();
    let body = fixture("ping.json");
    let response = block_on(handle(signed("ping", &body), &p));
    assert_eq!(response.status(), 200);
    let answer = json(&response);
    assert_eq!(answer["pong"], true);
    assert_eq!(answer["zen"], "Anything added dilutes everything else.");
    assert!(p.sent().is_empty());
}

#[test]
fn other_events_are_acknowledged_and_ignored() {
    let p = platform();
    let body = br#"{"action":"created"}"#;
    let response = block_on(handle(signed("issues", body), &p));
    assert_eq!(response.status(), 202);
    assert_eq!(json(&response), serde_json::json!({"ignored": "issues"}));
    assert!(p.sent().is_empty());
}

#[test]
fn missing_signature_is_401() {
    let body = fixture("push.json");
    let answer = refused(
        &platform(),
        delivery("push", &body, None),
        401,
        "unauthorized",
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("x-hub-signature-256")
    );
}

#[test]
fn wrong_secret_is_401() {
    let body = fixture("push.json");
    let request = delivery("push", &body, Some(&sign("another secret", &body)));
    refused(&platform(), request, 401, "unauthorized");
}

#[test]
fn truncated_signature_is_401() {
    let body = fixture("push.json");
    let mut signature = sign(SECRET, &body);
    signature.truncate(40);
    refused(
        &platform(),
        delivery("push", &body, Some(&signature)),
        401,
        "unauthorized",
    );
}

#[test]
fn bare_prefix_is_401() {
    let body = fixture("push.json");
    refused(
        &platform(),
        delivery("push", &body, Some("sha256=")),
        401,
        "unauthorized",
    );
}

#[test]
fn tampered_body_is_401() {
    let body = fixture("push.json");
    let signature = sign(SECRET, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    refused(
        &platform(),
        delivery("push", &tampered, Some(&signature)),
        401,
        "unauthorized",
    );
}

#[test]
fn rotated_out_secret_is_401_and_the_new_one_works() {
    let p = platform()
        .with_config("GITHUB_WEBHOOK_SECRET", "new-secret-0123456")
        .reply(201, r#"[{"id":1}]"#);
    let body = fixture("push.json");
    let old = delivery("push", &body, Some(&sign(SECRET, &body)));
    assert_eq!(block_on(handle(old, &p)).status(), 401);
    let new = delivery("push", &body, Some(&sign("new-secret-0123456", &body)));
    assert_eq!(block_on(handle(new, &p)).status(), 201);
}

#[test]
fn missing_event_header_is_400_naming_it() {
    let body = fixture("push.json");
    let mut request = signed("push", &body);
    request.headers_mut().remove("x-github-event");
    let answer = refused(&platform(), request, 400, "missing_header");
    assert_eq!(answer["header"], "x-github-event");
}

#[test]
fn missing_delivery_header_is_400_naming_it() {
    let body = fixture("push.json");
    let mut request = signed("push", &body);
    request.headers_mut().remove("x-github-delivery");
    let answer = refused(&platform(), request, 400, "missing_header");
    assert_eq!(answer["header"], "x-github-delivery");
}

#[test]
fn overlong_delivery_id_is_400() {
    let body = fixture("push.json");
    let mut request = signed("push", &body);
    request
        .headers_mut()
        .insert("x-github-delivery", "d".repeat(129).parse().unwrap());
    refused(&platform(), request, 400, "invalid_header");
}

#[test]
fn signed_garbage_is_400_and_stores_nothing() {
    refused(
        &platform(),
        signed("push", b"[1,2"),
        400,
        "malformed_payload",
    );
}

#[test]
fn signed_event_without_its_object_is_400_naming_the_field() {
    let answer = refused(
        &platform(),
        signed("workflow_run", br#"{"action":"completed"}"#),
        400,
        "malformed_payload",
    );
    assert_eq!(answer["field"], "workflow_run");
}

#[test]
fn form_encoded_is_415() {
    let mut request = signed("push", b"payload=%7B%7D");
    request.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    refused(&platform(), request, 415, "unsupported_media_type");
}

#[test]
fn missing_secret_is_500_missing_config() {
    let p = FakePlatform::new(NOW);
    let answer = refused(&p, signed("push", b"{}"), 500, "missing_config");
    assert_eq!(answer["name"], "GITHUB_WEBHOOK_SECRET");
}

#[test]
fn postgrest_down_is_503_with_retry_after() {
    let p = platform().fail(OutboundError::Unreachable("connection-refused".into()));
    let body = fixture("push.json");
    let response = block_on(handle(signed("push", &body), &p));
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(&response)["error"], "store_unavailable");
}

#[test]
fn postgrest_500_is_503() {
    let p = platform().reply(500, r#"{"message":"boom"}"#);
    let body = fixture("push.json");
    assert_eq!(block_on(handle(signed("push", &body), &p)).status(), 503);
}

#[test]
fn no_secret_in_logs_or_answers() {
    let p = platform().reply(201, r#"[{"id":1}]"#);
    let body = fixture("push.json");
    let response = block_on(handle(signed("push", &body), &p));
    let text = String::from_utf8_lossy(response.body()).into_owned() + &p.logs().join("\n");
    assert!(!text.contains(SECRET) && !text.contains(KEY), "{text}");
}

pulser_runtime::conformance! {
    handle: github_webhook::handle,
    spec: github_webhook::SPEC,
    settings: github_webhook::settings::TABLE,
    platform: platform,
    request: |body: &[u8]| signed("push", body),
    credentials: &["x-hub-signature-256"],
    authenticated_by: &["GITHUB_WEBHOOK_SECRET"],
    body: b"{}",
}
