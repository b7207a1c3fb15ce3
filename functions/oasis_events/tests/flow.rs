#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The read side driven natively on a scripted platform: the exact PostgREST request for
//! each caller, pages and cursors, the feed's wait, CORS and the rate limit.

use core::time::Duration;

use oasis_events::handle;
use pulser_runtime::testing::{FakePlatform, block_on};
use pulser_runtime::{Request, Response};
use serde_json::{Value, json};

const NOW: u64 = 1_795_000_040; // 20 s into a minute
const SERVICE_KEY: &str = "service-role-key";
const READ_KEY: &str = "console-read-key";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYXV0aGVudGljYXRlZCJ9.c2ln";
const CONSOLE: &str = "https://console.example.com";

fn platform() -> FakePlatform {
    FakePlatform::new(NOW)
        .with_config("SUPABASE_URL", "http://db.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
        .with_config("SUPABASE_ANON_KEY", "anon-key")
        .with_config("OASIS_READ_KEY", &format!("old-key,{READ_KEY}"))
        .with_config("OASIS_CORS_ORIGINS", CONSOLE)
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request {
    let mut builder = http::Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Vec::new()).unwrap()
}

fn json_of(response: &Response) -> Value {
    serde_json::from_slice(response.body()).unwrap_or(Value::Null)
}

fn rows(ids: &[u64]) -> String {
    Value::Array(
        ids.iter()
            .map(|id| json!({"id": id, "vtid": "DEV-CICDL-0031"}))
            .collect(),
    )
    .to_string()
}

const READ: (&str, &str) = ("authorization", "Bearer console-read-key");

#[test]
fn a_page_is_newest_first_with_the_cursor_of_the_next() {
    let platform = platform().reply(200, &rows(&[9, 8, 7]));
    let response = block_on(handle(
        get("/api/v1/oasis/events?vtid=DEV-CICDL-0031&limit=2", &[READ]),
        &platform,
    ));
    assert_eq!(response.status(), 200, "{:?}", json_of(&response));
    assert_eq!(
        json_of(&response),
        json!({"events": [{"id": 9, "vtid": "DEV-CICDL-0031"}, {"id": 8, "vtid": "DEV-CICDL-0031"}], "next_cursor": "8"})
    );
    let sent = platform.sent();
    assert_eq!(sent.len(), 1);
    let url = sent[0].url();
    assert!(
        url.starts_with("http://db.test/rest/v1/oasis_events?select="),
        "{url}"
    );
    assert!(
        url.ends_with("&vtid=eq.DEV-CICDL-0031&order=id.desc&limit=3"),
        "{url}"
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer service-role-key")
    );

    // The last page has no cursor.
    let platform = self::platform().reply(200, &rows(&[7]));
    let response = block_on(handle(get("/events?cursor=8&limit=2", &[READ]), &platform));
    assert_eq!(json_of(&response)["next_cursor"], Value::Null);
    assert!(platform.sent()[0].url().contains("&id=lt.8&order=id.desc"));
}

#[test]
fn an_access_token_reads_as_its_caller_never_as_the_service_role() {
    let platform = platform().reply(200, &rows(&[]));
    let bearer = format!("Bearer {JWT}");
    let response = block_on(handle(
        get("/events", &[("authorization", &bearer)]),
        &platform,
    ));
    assert_eq!(response.status(), 200);
    let sent = &platform.sent()[0];
    assert_eq!(sent.header("authorization"), Some(bearer.as_str()));
    assert_eq!(sent.header("apikey"), Some("anon-key"));

    // PostgREST refusing the token is the caller's 401, not a store failure.
    let platform = self::platform().reply(401, r#"{"code":"PGRST301","message":"JWT expired"}"#);
    let response = block_on(handle(
        get("/events", &[("authorization", &bearer)]),
        &platform,
    ));
    assert_eq!(response.status(), 401);
    assert_eq!(json_of(&response)["error"], "unauthorized");
    assert_eq!(json_of(&response)["header"], "authorization");
}

#[test]
fn no_credentials_or_a_wrong_key_read_nothing() {
    for headers in [vec![], vec![("authorization", "Bearer guess")]] {
        let platform = platform();
        let response = block_on(handle(get("/events", &headers), &platform));
        assert_eq!(response.status(), 401, "{headers:?}");
        assert!(platform.sent().is_empty());
    }
}

#[test]
fn the_query_is_checked_before_anything_is_read() {
    let platform = platform();
    let response = block_on(handle(get("/events?status=done", &[READ]), &platform));
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(&response)["error"], "invalid_parameter");
    assert_eq!(json_of(&response)["field"], "status");
    let response = block_on(handle(get("/events?select=*", &[READ]), &platform));
    assert_eq!(json_of(&response)["error"], "unknown_parameter");
    assert!(platform.sent().is_empty());
}

#[test]
fn only_reads_and_preflights_and_only_these_paths() {
    let platform = platform();
    let post = http::Request::post("/events").body(Vec::new()).unwrap();
    let response = block_on(handle(post, &platform));
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, OPTIONS");
    let response = block_on(handle(get("/api/v1/oasis/other", &[READ]), &platform));
    assert_eq!(response.status(), 404);
}

#[test]
fn the_feed_sends_what_is_new_after_the_last_event_id() {
    let platform = platform().reply(200, &rows(&[12, 13]));
    let response = block_on(handle(
        get(oasis_events::FEED_PATH, &[READ, ("last-event-id", "11")]),
        &platform,
    ));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = String::from_utf8(response.body().clone()).unwrap();
    assert!(body.starts_with("retry: 2000\n\n"), "{body}");
    let ids: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    assert_eq!(ids, ["12", "13"]);
    assert!(
        platform.sent()[0]
            .url()
            .ends_with("&id=gt.11&order=id.asc&limit=20")
    );
    assert_eq!(
        platform.slept(),
        Duration::ZERO,
        "something was new: no wait"
    );
}

#[test]
fn a_first_connection_gets_the_newest_oldest_first_and_the_token_may_be_in_the_query() {
    let platform = platform().reply(200, &rows(&[30, 29]));
    let response = block_on(handle(
        get(
            &format!(
                "{}?access_token={READ_KEY}&limit=2",
                oasis_events::FEED_PATH
            ),
            &[],
        ),
        &platform,
    ));
    assert_eq!(
        response.status(),
        200,
        "{:?}",
        String::from_utf8_lossy(response.body())
    );
    let body = String::from_utf8(response.body().clone()).unwrap();
    let ids: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    assert_eq!(ids, ["29", "30"]);
    assert!(platform.sent()[0].url().ends_with("&order=id.desc&limit=2"));
}

#[test]
fn when_nothing_is_new_the_feed_waits_then_answers_with_a_comment() {
    // OASIS_FEED_WAIT_MS 5000 (the default) at a poll every 500 ms: 1 + 10 reads.
    let platform = platform();
    for _ in 0..11 {
        platform.push_reply(200, &[], "[]");
    }
    let response = block_on(handle(
        get(oasis_events::FEED_PATH, &[READ, ("last-event-id", "40")]),
        &platform,
    ));
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), b"retry: 2000\n\n: nothing new\n\n");
    assert_eq!(platform.sent().len(), 11);
    assert_eq!(platform.slept(), Duration::from_secs(5));

    // Something arriving during the wait ends it.
    let platform = self::platform().reply(200, "[]").reply(200, &rows(&[41]));
    let response = block_on(handle(
        get(oasis_events::FEED_PATH, &[READ, ("last-event-id", "40")]),
        &platform,
    ));
    assert!(String::from_utf8_lossy(response.body()).contains("id: 41\n"));
    assert_eq!(platform.slept(), Duration::from_millis(500));
}

#[test]
fn a_bad_last_event_id_is_refused_naming_the_header() {
    let platform = platform();
    let response = block_on(handle(
        get(oasis_events::FEED_PATH, &[READ, ("last-event-id", "x")]),
        &platform,
    ));
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(&response)["header"], "last-event-id");
}

#[test]
fn cors_answers_a_listed_origin_by_name_and_refuses_others() {
    let platform = platform();
    let preflight = http::Request::options("/events")
        .header("origin", CONSOLE)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Vec::new())
        .unwrap();
    let response = block_on(handle(preflight, &platform));
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], CONSOLE);
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    assert!(
        response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(platform.sent().is_empty(), "a preflight reads nothing");

    // A refusal to an allowed origin is readable by it.
    let response = block_on(handle(get("/events", &[("origin", CONSOLE)]), &platform));
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["access-control-allow-origin"], CONSOLE);

    let response = block_on(handle(
        get("/events", &[READ, ("origin", "https://evil.example.com")]),
        &platform,
    ));
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(&response)["error"], "origin_not_allowed");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert!(platform.sent().is_empty());
}

#[test]
fn a_wildcard_origin_is_a_configuration_error() {
    let platform = platform().with_config("OASIS_CORS_ORIGINS", "*");
    let response = block_on(handle(get("/events", &[READ]), &platform));
    assert_eq!(response.status(), 500);
    assert_eq!(json_of(&response)["name"], "OASIS_CORS_ORIGINS");
}

#[test]
fn a_client_over_its_limit_gets_429_with_when_to_retry() {
    let platform = platform().with_config("OASIS_RATE_LIMIT", "2");
    platform.push_reply(200, &[], "[]");
    platform.push_reply(200, &[], "[]");
    for _ in 0..2 {
        assert_eq!(
            block_on(handle(get("/events", &[READ]), &platform)).status(),
            200
        );
    }
    let response = block_on(handle(get("/events", &[READ]), &platform));
    assert_eq!(response.status(), 429);
    assert_eq!(json_of(&response)["error"], "rate_limited");
    assert_eq!(response.headers()["retry-after"], "40");
    // Another key is another client.
    platform.push_reply(200, &[], "[]");
    let other = block_on(handle(
        get("/events", &[("authorization", "Bearer old-key")]),
        &platform,
    ));
    assert_eq!(other.status(), 200);
}

#[test]
fn health_names_the_settings() {
    let platform = platform();
    let response = block_on(handle(get("/api/v1/oasis/health", &[]), &platform));
    assert_eq!(response.status(), 200);
    let body = json_of(&response);
    assert_eq!(body["name"], "oasis_events");
    assert_eq!(body["settings"]["OASIS_READ_KEY"], "set");
    assert!(!String::from_utf8_lossy(response.body()).contains(READ_KEY));
}

#[test]
fn a_missing_setting_is_named_to_an_authenticated_caller_only() {
    let platform = FakePlatform::new(NOW).with_config("OASIS_READ_KEY", READ_KEY);
    let anonymous = block_on(handle(get("/events", &[]), &platform));
    assert_eq!(anonymous.status(), 401);
    let known = block_on(handle(get("/events", &[READ]), &platform));
    assert_eq!(known.status(), 500);
    assert_eq!(json_of(&known)["name"], "SUPABASE_URL");
}
