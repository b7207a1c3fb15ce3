#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `git_ops_dispatch` end to end: the built WASI component behind the edge host against the
//! strict GitHub stand-in (it verifies the app JWT with the public key, GitHub's iat/exp rules,
//! the API headers, the token, and the dispatch limits); then the Workers build on workerd.
//! Each test starts its own stack: the stand-in's records and modes are per test.

use pulser_tests::Exchange;
use pulser_tests::e2e::{JSON, Scheme, pairs, post_signed, send, signed_headers};
use pulser_tests::stack::{GithubMode, Stack};
use serde_json::Value;

const ROUTE: &str = "/pulser/git-ops";

/// POSTs `body` to `url` signed with `secret` as callers of `/pulser/git-ops` sign it.
fn dispatch(stack: &Stack, url: &str, secret: &str, body: &[u8]) -> Exchange {
    post_signed(stack, url, secret, Scheme::Pulser, body)
}

fn secret(stack: &Stack) -> String {
    stack.var("PULSER_WEBHOOK_SECRET")
}

#[test]
fn git_ops_becomes_a_repository_dispatch() {
    let stack = Stack::builder().start();
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"branch":"gitops/push","message":"from odoo","kv_key":"version","kv_value":"42"}"#,
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["event_type"], "git-ops");
    assert_eq!(answer.json()["repository"], "pulser/pulse-hub");
    let dispatches = stack.github.dispatches();
    assert_eq!(dispatches.len(), 1);
    assert_eq!(dispatches[0]["event_type"], "git-ops");
    assert_eq!(dispatches[0]["client_payload"]["kv_value"], "42");
    assert_eq!(
        dispatches[0]["client_payload"]["correlation_id"],
        answer.json()["correlation_id"]
    );
}

#[test]
fn deploy_pulse_hub_becomes_a_repository_dispatch() {
    let stack = Stack::builder().start();
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"event_type":"deploy_pulse_hub","environment":"production","image_tag":"v2.0.1","service":"all"}"#,
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let dispatched = &stack.github.dispatches()[0];
    assert_eq!(dispatched["event_type"], "deploy_pulse_hub");
    assert!(
        dispatched["client_payload"]["timestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn every_validation_failure_is_422_and_nothing_reaches_github() {
    let stack = Stack::builder().start();
    for (body, field) in [
        (r#"{"branch":"a..b","message":"m"}"#.to_owned(), "branch"),
        (r#"{"branch":"main"}"#.to_owned(), "message"),
        (format!(r#"{{"message":"{}"}}"#, "m".repeat(1001)), "message"),
        (r#"{"message":"m","kv_key":"a/b"}"#.to_owned(), "kv_key"),
        (r#"{"message":"m","kv_value":"v"}"#.to_owned(), "kv_value"),
        (r#"{"event_type":"deploy_pulse_hub","environment":"qa","image_tag":"v1","service":"web"}"#.to_owned(), "environment"),
        (r#"{"event_type":"deploy_pulse_hub","environment":"staging","image_tag":"v1","service":"api"}"#.to_owned(), "service"),
        (r#"{"event_type":"deploy_pulse_hub","environment":"staging","image_tag":"a:b","service":"web"}"#.to_owned(), "image_tag"),
    ] {
        let answer = dispatch(&stack, &stack.edge_url(ROUTE), &secret(&stack), body.as_bytes());
        assert_eq!(answer.status, 422, "{field}: {}", String::from_utf8_lossy(&answer.body));
        assert_eq!(answer.json()["field"], field);
    }
    assert!(
        stack.github.calls().is_empty(),
        "GitHub saw {:?}",
        stack.github.calls()
    );
}

#[test]
fn bad_signatures_are_401_and_nothing_reaches_github() {
    let stack = Stack::builder().start();
    let body = br#"{"message":"m"}"#;
    assert_eq!(
        dispatch(&stack, &stack.edge_url(ROUTE), "wrong", body).status,
        401
    );
    let unsigned = send(&stack, "POST", &stack.edge_url(ROUTE), &[JSON], body);
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.json()["error"], "unauthorized");
    let mut headers = signed_headers(&secret(&stack), Scheme::Pulser, body);
    headers.push(("x-pulser-secret".into(), "nope".into()));
    let wrong_shared = send(
        &stack,
        "POST",
        &stack.edge_url(ROUTE),
        &pairs(&headers),
        body,
    );
    assert_eq!(wrong_shared.status, 401);
    assert!(stack.github.calls().is_empty());
}

#[test]
fn a_missing_setting_is_500_naming_it() {
    let stack = Stack::builder().variable("GITHUB_APP_ID", "").start();
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"message":"m"}"#,
    );
    assert_eq!(answer.status, 500);
    assert_eq!(answer.json()["error"], "missing_config");
    assert_eq!(answer.json()["name"], "GITHUB_APP_ID");
}

#[test]
fn a_skewed_github_clock_is_recovered() {
    let stack = Stack::builder().start();
    stack.github.set_mode(GithubMode::Skewed(-3600));
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"message":"skew"}"#,
    );
    assert_eq!(
        answer.status,
        202,
        "{}\n{}",
        String::from_utf8_lossy(&answer.body),
        stack.edge_logs()
    );
    assert_eq!(stack.github.tokens_issued(), 1);
    assert_eq!(stack.github.dispatches().len(), 1);
}

#[test]
fn github_5xx_on_the_token_is_502_token_exchange_failed() {
    let stack = Stack::builder().start();
    stack.github.set_mode(GithubMode::FailTokens(503));
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"message":"m"}"#,
    );
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json()["error"], "token_exchange_failed");
    assert_eq!(answer.json()["github_status"], 503);
}

#[test]
fn github_5xx_on_the_dispatch_is_502_dispatch_failed() {
    let stack = Stack::builder().start();
    stack.github.set_mode(GithubMode::FailDispatch(500));
    let answer = dispatch(
        &stack,
        &stack.edge_url(ROUTE),
        &secret(&stack),
        br#"{"message":"m"}"#,
    );
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json()["error"], "dispatch_failed");
    assert_eq!(answer.json()["github_status"], 500);
}

/// Under the edge host each request runs in a fresh instance, so the WASI flavour mints a
/// token per request (documented); a Worker isolate keeps it (next test).
#[test]
fn wasi_flavour_mints_a_token_per_request_under_the_edge_host() {
    let stack = Stack::builder().start();
    for _ in 0..2 {
        assert_eq!(
            dispatch(
                &stack,
                &stack.edge_url(ROUTE),
                &secret(&stack),
                br#"{"message":"m"}"#
            )
            .status,
            202
        );
    }
    assert_eq!(stack.github.tokens_issued(), 2);
}

#[test]
fn workers_flavour_dispatches_and_reuses_its_token_on_workerd() {
    let stack = Stack::builder().without_edge().start();
    let worker = stack.workerd("git_ops_dispatch");
    for _ in 0..2 {
        let answer = dispatch(
            &stack,
            &worker.url(ROUTE),
            &secret(&stack),
            br#"{"message":"from workerd"}"#,
        );
        assert_eq!(
            answer.status,
            202,
            "{}\n{}",
            String::from_utf8_lossy(&answer.body),
            worker.logs()
        );
    }
    assert_eq!(stack.github.dispatches().len(), 2);
    assert_eq!(
        stack.github.tokens_issued(),
        1,
        "the isolate keeps the token"
    );
    // The JWT the strict stand-in verified was signed by WebCrypto, not by Rust in wasm.
    let logs = worker.logs();
    assert!(logs.contains(r#""signer":"host""#), "{logs}");
    assert!(!logs.contains(r#""signer":"rust""#), "{logs}");
}

#[test]
fn workers_flavour_refuses_a_bad_signature_on_workerd() {
    let stack = Stack::builder().without_edge().start();
    let worker = stack.workerd("git_ops_dispatch");
    let answer = dispatch(&stack, &worker.url(ROUTE), "wrong", br#"{"message":"m"}"#);
    assert_eq!(answer.status, 401);
    let body: Value = answer.json();
    assert_eq!(body["error"], "unauthorized");
    assert!(stack.github.calls().is_empty());
}
