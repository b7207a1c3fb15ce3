#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The endpoint on a scripted platform: exact GitHub requests (URL, headers, decoded JWT
//! claims, body bytes), every validation failure and bad signature its own test with nothing
//! sent to GitHub. The token cache is the platform's, so a token is shared exactly between
//! requests handed the same platform.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use git_ops_dispatch::handle;
use pulser_runtime::testing::{FakePlatform, block_on};
use pulser_runtime::{OutboundError, Request, Response};
use pulser_signing::Secret;
use serde_json::{Value, json};

const NOW: u64 = 1_795_000_000;
const SECRET: &str = "pulser-secret";

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
}

fn token_reply(p: FakePlatform) -> FakePlatform {
    p.reply(
        201,
        r#"{"token":"ghs_abc","expires_at":"2026-11-18T12:06:40Z"}"#,
    )
}

fn signed(body: &[u8]) -> Request {
    let signature = format!(
        "sha256={}",
        Secret::parse(SECRET).unwrap().sign_hex(body).as_str()
    );
    http::Request::post("/pulser/git-ops")
        .header("content-type", "application/json")
        .header("x-pulser-signature", signature)
        .header("x-correlation-id", "corr-1")
        .body(body.to_vec())
        .unwrap()
}

fn json(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn git_ops_is_dispatched_with_the_exact_requests() {
    let p = token_reply(platform("exact")).reply(204, "");
    let body = br#"{"branch":"gitops/push","message":"hello","kv_key":"version","kv_value":"1.2"}"#;
    let response = block_on(handle(signed(body), &p));
    assert_eq!(
        response.status(),
        202,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    assert_eq!(
        json(&response),
        json!({"ok": true, "event_type": "git-ops", "repository": "pulser/pulse-hub", "correlation_id": "corr-1"})
    );
    let sent = p.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].url(),
        "http://exact.test/app/installations/31337/access_tokens"
    );
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
        json!({"event_type": "git-ops", "client_payload": {
            "branch": "gitops/push", "message": "hello", "kv_key": "version", "kv_value": "1.2",
            "correlation_id": "corr-1", "triggered_by": "odoo"}})
    );
}

#[test]
fn deploy_pulse_hub_carries_a_timestamp() {
    let p = token_reply(platform("deploy")).reply(204, "");
    let body = br#"{"event_type":"deploy_pulse_hub","environment":"staging","image_tag":"v1.2.3","service":"web","odoo_user":"admin"}"#;
    let response = block_on(handle(signed(body), &p));
    assert_eq!(response.status(), 202);
    let dispatched = p.sent()[1].json();
    assert_eq!(dispatched["event_type"], "deploy_pulse_hub");
    assert_eq!(
        dispatched["client_payload"]["timestamp"],
        "2026-11-18T11:06:40Z"
    );
    assert_eq!(dispatched["client_payload"]["odoo_user"], "admin");
}

#[test]
fn the_token_is_reused_within_an_instance() {
    let p = token_reply(platform("reuse")).reply(204, "").reply(204, "");
    let body = br#"{"message":"one"}"#;
    assert_eq!(block_on(handle(signed(body), &p)).status(), 202);
    assert_eq!(block_on(handle(signed(body), &p)).status(), 202);
    let exchanges = p
        .sent()
        .iter()
        .filter(|s| s.url().ends_with("/access_tokens"))
        .count();
    assert_eq!(exchanges, 1);
}

fn exchanges(p: &FakePlatform) -> usize {
    p.sent()
        .iter()
        .filter(|s| s.url().ends_with("/access_tokens"))
        .count()
}

#[test]
fn the_token_lands_in_the_platform_cache_under_the_installation() {
    let p = token_reply(platform("stored")).reply(204, "");
    assert_eq!(
        block_on(handle(signed(br#"{"message":"one"}"#), &p)).status(),
        202
    );
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
            "http://stored.test|424242|31337\n{}\n{NOW}\nghs_abc",
            NOW + 3600
        )
    );
}

#[test]
fn a_cached_token_of_another_api_url_or_app_is_not_used() {
    let p = platform("mine").reply(
        201,
        r#"{"token":"ghs_mine","expires_at":"2026-11-18T12:06:40Z"}"#,
    );
    let p = p.reply(204, "");
    pulser_runtime::Platform::cache_put(
        &p,
        "pulser-edge/github-installation-token/31337",
        format!(
            "http://other.test|424242|31337\n{}\n{NOW}\nghs_other",
            NOW + 3600
        )
        .as_bytes(),
    );
    assert_eq!(
        block_on(handle(signed(br#"{"message":"one"}"#), &p)).status(),
        202
    );
    assert_eq!(exchanges(&p), 1);
    assert_eq!(p.sent()[1].header("authorization"), Some("Bearer ghs_mine"));
}

#[test]
fn a_token_within_a_minute_of_expiry_is_replaced() {
    let p = platform("expiring")
        .reply(
            201,
            r#"{"token":"ghs_old","expires_at":"2026-11-18T11:08:40Z"}"#,
        )
        .reply(204, "")
        .reply(204, "")
        .reply(
            201,
            r#"{"token":"ghs_new","expires_at":"2026-11-18T12:08:40Z"}"#,
        )
        .reply(204, "");
    let body = br#"{"message":"one"}"#;
    assert_eq!(block_on(handle(signed(body), &p)).status(), 202);
    // 120 s left: still used. 59 s left: replaced.
    assert_eq!(block_on(handle(signed(body), &p)).status(), 202);
    assert_eq!(exchanges(&p), 1);
    p.set_now(NOW + 61);
    assert_eq!(block_on(handle(signed(body), &p)).status(), 202);
    assert_eq!(exchanges(&p), 2);
    assert_eq!(
        p.sent().last().unwrap().header("authorization"),
        Some("Bearer ghs_new")
    );
}

#[test]
fn a_fresh_instance_starts_without_a_token() {
    let first = token_reply(platform("fresh")).reply(204, "");
    let second = token_reply(platform("fresh")).reply(204, "");
    let body = br#"{"message":"one"}"#;
    assert_eq!(block_on(handle(signed(body), &first)).status(), 202);
    assert_eq!(block_on(handle(signed(body), &second)).status(), 202);
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
    let p = token_reply(platform("native"))
        .reply(204, "")
        .with_native_rs256(move |der, message| {
            record.borrow_mut().push((der.to_vec(), message.to_vec()));
            Ok(vec![1, 2, 3])
        });
    assert_eq!(
        block_on(handle(signed(br#"{"message":"one"}"#), &p)).status(),
        202
    );
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let (der, message) = &seen[0];
    // The key as PKCS#8 DER, and exactly the JWT's signing input.
    assert_eq!(
        der,
        &pulser_signing::github_app::pkcs8_der_from_setting(&key_base64()).unwrap()
    );
    let jwt = p.sent()[0]
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
    let p = platform("native-fail").with_native_rs256(|_, _| Err("DataError: bad key".into()));
    let response = block_on(handle(signed(br#"{"message":"one"}"#), &p));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["error"], "invalid_config");
    assert!(p.sent().is_empty());
}

#[test]
fn without_native_rsa_the_jwt_is_signed_in_rust() {
    let p = token_reply(platform("rust-signer")).reply(204, "");
    assert_eq!(
        block_on(handle(signed(br#"{"message":"one"}"#), &p)).status(),
        202
    );
    assert!(p.logs().iter().any(|l| l.contains(r#""signer":"rust""#)));
}

#[test]
fn a_skewed_github_clock_is_recovered_once() {
    let p = platform("skew")
        .reply_with_headers(
            401,
            &[("date", "Wed, 18 Nov 2026 10:06:40 GMT")],
            r#"{"message":"'Expiration time' claim ('exp') is too far in the future"}"#,
        )
        .reply(
            201,
            r#"{"token":"ghs_skew","expires_at":"2026-11-18T11:06:40Z"}"#,
        )
        .reply(204, "");
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(
        response.status(),
        202,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let sent = p.sent();
    let second = claims(
        sent[1]
            .header("authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap(),
    );
    // GitHub's clock (the Date header) is 1 h behind ours.
    assert_eq!(second["iat"], NOW - 3600 - 60);
}

#[test]
fn token_exchange_failure_is_502_with_githubs_status() {
    let p = platform("tokfail").reply(500, r#"{"message":"boom"}"#);
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(response.status(), 502);
    let body = json(&response);
    assert_eq!(body["error"], "token_exchange_failed");
    assert_eq!(body["github_status"], 500);
    assert_eq!(body["message"], "boom");
}

#[test]
fn dispatch_404_is_explained() {
    let p = token_reply(platform("notfound")).reply(404, r#"{"message":"Not Found"}"#);
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(response.status(), 502);
    let body = json(&response);
    assert_eq!(body["error"], "dispatch_failed");
    assert!(body["message"].as_str().unwrap().contains("not installed"));
}

#[test]
fn a_401_on_dispatch_is_retried_once_with_a_fresh_token() {
    let p = token_reply(platform("retry401"))
        .reply(401, r#"{"message":"Bad credentials"}"#)
        .reply(
            201,
            r#"{"token":"ghs_two","expires_at":"2026-11-18T12:06:40Z"}"#,
        )
        .reply(204, "");
    assert_eq!(
        block_on(handle(signed(br#"{"message":"m"}"#), &p)).status(),
        202
    );
    assert_eq!(p.sent()[3].header("authorization"), Some("Bearer ghs_two"));
}

#[test]
fn github_unreachable_is_502() {
    let p = platform("down").fail(OutboundError::Connection("refused".into()));
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(response.status(), 502);
    assert_eq!(json(&response)["github_status"], Value::Null);
}

fn rejected(body: &[u8], field: &str) {
    let p = platform(&format!("invalid-{field}"));
    let response = block_on(handle(signed(body), &p));
    assert_eq!(
        response.status(),
        422,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let answer = json(&response);
    assert_eq!(answer["error"], "validation_failed");
    assert_eq!(answer["field"], field);
    assert!(p.sent().is_empty(), "nothing may reach GitHub");
}

#[test]
fn invalid_branch() {
    rejected(br#"{"branch":"bad..ref","message":"m"}"#, "branch");
}
#[test]
fn missing_message() {
    rejected(br#"{"branch":"main"}"#, "message");
}
#[test]
fn empty_message() {
    rejected(br#"{"message":""}"#, "message");
}
#[test]
fn overlong_message() {
    rejected(
        format!(r#"{{"message":"{}"}}"#, "m".repeat(1001)).as_bytes(),
        "message",
    );
}
#[test]
fn invalid_kv_key() {
    rejected(br#"{"message":"m","kv_key":".."}"#, "kv_key");
}
#[test]
fn kv_value_without_key() {
    rejected(br#"{"message":"m","kv_value":"v"}"#, "kv_value");
}
#[test]
fn overlong_kv_value() {
    rejected(
        format!(
            r#"{{"message":"m","kv_key":"k","kv_value":"{}"}}"#,
            "v".repeat(4097)
        )
        .as_bytes(),
        "kv_value",
    );
}
#[test]
fn unknown_environment() {
    rejected(br#"{"event_type":"deploy_pulse_hub","environment":"dev","image_tag":"v1","service":"web"}"#, "environment");
}
#[test]
fn unknown_service() {
    rejected(br#"{"event_type":"deploy_pulse_hub","environment":"staging","image_tag":"v1","service":"db"}"#, "service");
}
#[test]
fn invalid_image_tag() {
    rejected(br#"{"event_type":"deploy_pulse_hub","environment":"staging","image_tag":"-v1","service":"web"}"#, "image_tag");
}
#[test]
fn unknown_event_type() {
    rejected(br#"{"event_type":"other","message":"m"}"#, "event_type");
}
#[test]
fn not_an_object() {
    rejected(b"[]", "body");
}

fn unauthorized(request: Request) {
    let p = platform("unauth");
    let response = block_on(handle(request, &p));
    assert_eq!(response.status(), 401);
    assert_eq!(json(&response)["error"], "unauthorized");
    assert!(p.sent().is_empty());
}

#[test]
fn missing_signature() {
    let mut request = signed(br#"{"message":"m"}"#);
    request.headers_mut().remove("x-pulser-signature");
    unauthorized(request);
}
#[test]
fn wrong_signature() {
    let mut request = signed(br#"{"message":"m"}"#);
    request.headers_mut().insert(
        "x-pulser-signature",
        format!("sha256={}", "0".repeat(64)).parse().unwrap(),
    );
    unauthorized(request);
}
#[test]
fn wrong_shared_secret_header() {
    let mut request = signed(br#"{"message":"m"}"#);
    request
        .headers_mut()
        .insert("x-pulser-secret", "nope".parse().unwrap());
    unauthorized(request);
}
#[test]
fn right_shared_secret_header_is_accepted() {
    let p = token_reply(platform("shared")).reply(204, "");
    let mut request = signed(br#"{"message":"m"}"#);
    request
        .headers_mut()
        .insert("x-pulser-secret", SECRET.parse().unwrap());
    assert_eq!(block_on(handle(request, &p)).status(), 202);
}

#[test]
fn missing_secret_is_500_missing_config() {
    let p = FakePlatform::new(NOW);
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["name"], "PULSER_WEBHOOK_SECRET");
}

#[test]
fn missing_app_key_is_500_naming_it() {
    let p = FakePlatform::new(NOW)
        .with_config("PULSER_WEBHOOK_SECRET", SECRET)
        .with_config("GITHUB_APP_ID", "1")
        .with_config("GITHUB_INSTALLATION_ID", "2");
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    assert_eq!(response.status(), 500);
    assert_eq!(json(&response)["name"], "GITHUB_APP_PRIVATE_KEY_BASE64");
}

#[test]
fn no_secret_in_answers_or_logs() {
    let p = token_reply(platform("secrets")).reply(204, "");
    let response = block_on(handle(signed(br#"{"message":"m"}"#), &p));
    let text = String::from_utf8_lossy(response.body()).into_owned() + &p.logs().join("\n");
    assert!(!text.contains(SECRET) && !text.contains("ghs_abc") && !text.contains(&key_base64()));
}

pulser_runtime::conformance! {
    handle: git_ops_dispatch::handle,
    spec: git_ops_dispatch::SPEC,
    settings: git_ops_dispatch::settings::TABLE,
    platform: || platform("api"),
    request: signed,
    credentials: &["x-pulser-signature"],
    body: br#"{"branch":"main","message":"conformance"}"#,
}
