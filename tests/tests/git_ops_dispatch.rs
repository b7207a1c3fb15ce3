#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `git_ops_dispatch` end to end on the cell's runtime (`PULSER_CELL`, see
//! `pulser_tests::cell`) against real PostgreSQL + PostgREST (the `git_ops_dispatch` rows) and the strict GitHub stand-in (it
//! verifies the app JWT with the public key, GitHub's iat/exp rules, the API headers, the
//! token's scope and the token, and the dispatch limits, and counts the dispatches it
//! accepted). Each test starts its own stack: the stand-in's records and modes are per test.

use pulser_tests::Exchange;
use pulser_tests::cell::{Cell, TokenCache};
use pulser_tests::clock::unix_now;
use pulser_tests::e2e::{JSON, Scheme, pairs, post_signed, send, signed_headers, unique};
use pulser_tests::stack::{GithubMode, Stack};
use serde_json::{Value, json};

const ROUTE: &str = "/pulser/git-ops";

/// POSTs `body` to `url` signed with `secret` as callers of `/pulser/git-ops` sign it.
fn dispatch(stack: &Stack, url: &str, secret: &str, body: &[u8]) -> Exchange {
    post_signed(stack, url, secret, Scheme::Pulser, body)
}

fn secret(stack: &Stack) -> String {
    stack.var("PULSER_WEBHOOK_SECRET")
}

/// `fields` with a fresh `request_id` and `timestamp` now, unless it sets them.
fn body(fields: &Value) -> Vec<u8> {
    let mut body = fields.clone();
    let map = body.as_object_mut().unwrap();
    map.entry("request_id")
        .or_insert_with(|| unique("e2e").into());
    map.entry("timestamp").or_insert_with(|| unix_now().into());
    body.to_string().into_bytes()
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

/// The `git_ops_dispatch` row of `request_id` as JSON, `Null` when there is none.
fn row(stack: &Stack, request_id: &str) -> Value {
    let text = stack.sql(&format!(
        "select row_to_json(r) from git_ops_dispatch r where request_id = '{request_id}'"
    ));
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

fn rows(stack: &Stack) -> String {
    stack.sql("select count(*) from git_ops_dispatch")
}

#[test]
fn git_ops_becomes_a_repository_dispatch() {
    let stack = Stack::builder().start();
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(
            &json!({"branch": "gitops/push", "message": "from odoo", "kv_key": "version",
            "kv_value": "42", "request_id": "odoo-git-ops-1"}),
        ),
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
        dispatches[0]["client_payload"]["request_id"],
        "odoo-git-ops-1"
    );
    assert_eq!(
        dispatches[0]["client_payload"]["correlation_id"],
        answer.json()["correlation_id"]
    );
    assert_eq!(row(&stack, "odoo-git-ops-1")["status"], "dispatched");
    // The dispatch is in the audit trail, under the flow's correlation id.
    let correlation = answer.json()["correlation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        stack.sql(&format!(
            "select source || '|' || event_type || '|' || resource_id || '|' || (payload->>'github_status') \
             from audit_event where correlation_id = '{correlation}'"
        )),
        "git_ops_dispatch|repository_dispatch.dispatched|odoo-git-ops-1|204"
    );
    // The token reaches only this repository, with only contents:write.
    let exchange = &stack.github.calls()[0];
    assert!(
        exchange.path.ends_with("/access_tokens"),
        "{}",
        exchange.path
    );
    assert_eq!(
        exchange.json(),
        json!({"repositories": ["pulse-hub"], "permissions": {"contents": "write"}})
    );
}

#[test]
fn a_branch_prefix_admits_only_branches_under_it() {
    let stack = Stack::builder()
        .variable("GITOPS_BRANCH_PREFIX", "gitops/")
        .start();
    let outside = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&json!({"branch": "main", "message": "m"})),
    );
    assert_eq!(
        outside.status,
        422,
        "{}",
        String::from_utf8_lossy(&outside.body)
    );
    assert_eq!(outside.json()["field"], "branch");
    assert!(stack.github.calls().is_empty());
    let under = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&json!({"branch": "gitops/release", "message": "m"})),
    );
    assert_eq!(
        under.status,
        202,
        "{}",
        String::from_utf8_lossy(&under.body)
    );
    assert_eq!(
        stack.github.dispatches()[0]["client_payload"]["branch"],
        "gitops/release"
    );
}

#[test]
fn deploy_pulse_hub_carries_the_callers_signed_timestamp() {
    let stack = Stack::builder().start();
    let signed_at = unix_now() - 30;
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(
            &json!({"event_type": "deploy_pulse_hub", "environment": "production",
            "image_tag": "v2.0.1", "service": "all", "timestamp": signed_at,
            "request_id": "deploy-1"}),
        ),
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let dispatched = &stack.github.dispatches()[0];
    assert_eq!(dispatched["event_type"], "deploy_pulse_hub");
    // As the seed's deploy payload: unix seconds, and who triggered it.
    assert_eq!(dispatched["client_payload"]["timestamp"], signed_at);
    assert_eq!(dispatched["client_payload"]["triggered_by"], "odoo_wizard");
    assert_eq!(dispatched["client_payload"]["request_id"], "deploy-1");
}

/// (a) The same signed bytes sent again inside the window (a caller's retry, or a replay)
/// dispatch once.
#[test]
fn a_signed_request_replayed_inside_the_window_dispatches_once() {
    let stack = Stack::builder().start();
    let signed = body(&json!({"message": "once", "request_id": "odoo-retry-1"}));
    let first = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &signed);
    assert_eq!(
        first.status,
        202,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    for _ in 0..2 {
        let again = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &signed);
        assert_eq!(
            again.status,
            200,
            "{}",
            String::from_utf8_lossy(&again.body)
        );
        assert_eq!(
            again.json(),
            json!({"ok": true, "duplicate": true, "status": "dispatched",
                "event_type": "git-ops", "repository": "pulser/pulse-hub",
                "correlation_id": first.json()["correlation_id"]})
        );
    }
    assert_eq!(stack.github.dispatches().len(), 1, "GitHub saw a replay");
    assert_eq!(rows(&stack), "1");
    assert_eq!(row(&stack, "odoo-retry-1")["status"], "dispatched");
}

/// (b) A request signed more than 300 s ago is refused before anything is stored or sent.
#[test]
fn a_request_signed_301_s_ago_is_401_stale_request_and_nothing_is_dispatched() {
    let stack = Stack::builder().start();
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&json!({"message": "captured", "request_id": "old-1",
            "timestamp": unix_now() - 301})),
    );
    assert_eq!(
        answer.status,
        401,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["error"], "stale_request");
    assert_eq!(answer.json()["field"], "timestamp");
    assert!(
        stack.github.calls().is_empty(),
        "GitHub saw {:?}",
        stack.github.calls()
    );
    assert_eq!(rows(&stack), "0");
}

/// (c) The row is the audit trail of the dispatch: what was sent, for whom, when it was
/// signed, and what GitHub answered.
#[test]
fn the_row_records_the_dispatch_as_its_audit_trail() {
    let stack = Stack::builder().start();
    let signed_at = unix_now() - 5;
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(
            &json!({"event_type": "deploy_pulse_hub", "environment": "staging",
            "image_tag": "v1.2.3", "service": "web", "odoo_user": "admin",
            "request_id": "audit-1", "timestamp": signed_at}),
        ),
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let columns = stack.sql(
        "select string_agg(column_name, ',' order by ordinal_position) from \
         information_schema.columns where table_name = 'git_ops_dispatch'",
    );
    assert_eq!(
        columns,
        "request_id,event_type,correlation_id,status,requested_at,client_payload,\
         github_status,last_error,created_at,updated_at"
    );
    let r = row(&stack, "audit-1");
    assert_eq!(r["event_type"], "deploy_pulse_hub");
    assert_eq!(r["status"], "dispatched");
    assert_eq!(r["correlation_id"], answer.json()["correlation_id"]);
    assert_eq!(r["github_status"], 204);
    assert_eq!(r["last_error"], Value::Null);
    assert_eq!(
        r["client_payload"],
        stack.github.dispatches()[0]["client_payload"]
    );
    // Times in the database's own terms: the signed timestamp, and writes just now.
    let times = stack.sql(
        "select extract(epoch from requested_at)::bigint, \
         (created_at > now() - interval '1 minute')::text, (updated_at >= created_at)::text \
         from git_ops_dispatch where request_id = 'audit-1'",
    );
    assert_eq!(times, format!("{signed_at}|true|true"));
    // Only service_role sees the trail.
    assert_eq!(
        stack.sql("select relrowsecurity::text from pg_class where relname = 'git_ops_dispatch'"),
        "true"
    );
    assert_eq!(
        stack.sql(
            "select has_table_privilege('anon', 'public.git_ops_dispatch', 'select')::text || \
             has_table_privilege('service_role', 'public.git_ops_dispatch', 'update')::text"
        ),
        "falsetrue"
    );
}

#[test]
fn a_dispatch_github_refuses_is_recorded_failed_and_a_retry_with_the_same_id_dispatches() {
    let stack = Stack::builder().start();
    let signed = body(&json!({"message": "retry me", "request_id": "flaky-1"}));
    stack.github.set_mode(GithubMode::FailDispatch(500));
    let refused = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &signed);
    assert_eq!(refused.status, 502);
    assert_eq!(refused.json()["error"], "dispatch_failed");
    assert_eq!(refused.json()["github_status"], 500);
    let r = row(&stack, "flaky-1");
    assert_eq!(r["status"], "failed");
    assert_eq!(r["github_status"], 500);
    assert!(
        r["last_error"]
            .as_str()
            .unwrap()
            .contains("stand-in told to fail")
    );

    stack.github.set_mode(GithubMode::Ok);
    let retried = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &signed);
    assert_eq!(
        retried.status,
        202,
        "{}",
        String::from_utf8_lossy(&retried.body)
    );
    let again = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &signed);
    assert_eq!(again.status, 200);
    assert_eq!(stack.github.dispatches().len(), 1);
    let r = row(&stack, "flaky-1");
    assert_eq!(
        (&r["status"], &r["github_status"], &r["last_error"]),
        (&json!("dispatched"), &json!(204), &Value::Null)
    );
    assert_eq!(r["correlation_id"], retried.json()["correlation_id"]);
}

#[test]
fn a_request_id_reused_for_another_request_is_422() {
    let stack = Stack::builder().start();
    let first = body(&json!({"message": "first", "request_id": "reused-1"}));
    assert_eq!(
        dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &first).status,
        202
    );
    let other = body(&json!({"message": "other", "request_id": "reused-1"}));
    let answer = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &other);
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json()["field"], "request_id");
    assert_eq!(stack.github.dispatches().len(), 1);
}

#[test]
fn postgrest_down_is_503_and_nothing_reaches_github() {
    let mut stack = Stack::builder().start();
    stack.stop_postgrest();
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&message("m")),
    );
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.json()["error"],
        stack.cell().unreachable_write_error()
    );
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(stack.github.calls().is_empty());
}

#[test]
fn every_validation_failure_is_422_and_nothing_reaches_github() {
    let stack = Stack::builder().start();
    let now = unix_now();
    for (fields, field) in [
        (json!({"message": "m", "timestamp": now}), "request_id"),
        (json!({"message": "m", "request_id": "a b"}), "request_id"),
        (json!({"message": "m", "request_id": "r-1"}), "timestamp"),
        (
            json!({"message": "m", "timestamp": "last tuesday"}),
            "timestamp",
        ),
        (json!({"branch": "a..b", "message": "m"}), "branch"),
        (json!({"branch": "HEAD", "message": "m"}), "branch"),
        (
            json!({"branch": "refs/heads/main", "message": "m"}),
            "branch",
        ),
        (message("a\u{1b}[2Jb"), "message"),
        (
            json!({"message": "m", "triggered_by": "odoo\nadmin"}),
            "triggered_by",
        ),
        (json!({"branch": "main"}), "message"),
        (message(&"m".repeat(1001)), "message"),
        (json!({"message": "m", "kv_key": "a/b"}), "kv_key"),
        (json!({"message": "m", "kv_value": "v"}), "kv_value"),
        (
            json!({"event_type": "deploy_pulse_hub", "environment": "qa", "image_tag": "v1", "service": "web"}),
            "environment",
        ),
        (
            json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1", "service": "api"}),
            "service",
        ),
        (
            json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "a:b", "service": "web"}),
            "image_tag",
        ),
        (
            json!({"event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1",
                "service": "web", "odoo_user": "admin\u{85}"}),
            "odoo_user",
        ),
    ] {
        // The envelope fields a case leaves out on purpose stay out.
        let bytes = if field == "request_id" || field == "timestamp" {
            let mut fields = fields.clone();
            let map = fields.as_object_mut().unwrap();
            if field == "request_id" {
                map.entry("timestamp").or_insert_with(|| now.into());
            } else {
                map.entry("request_id").or_insert_with(|| "r-1".into());
            }
            fields.to_string().into_bytes()
        } else {
            body(&fields)
        };
        let answer = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), &bytes);
        assert_eq!(
            answer.status,
            422,
            "{field}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["field"], field);
    }
    assert!(
        stack.github.calls().is_empty(),
        "GitHub saw {:?}",
        stack.github.calls()
    );
    assert_eq!(rows(&stack), "0");
}

#[test]
fn bad_signatures_are_401_and_nothing_reaches_github() {
    let stack = Stack::builder().start();
    let body = body(&message("m"));
    assert_eq!(
        dispatch(&stack, &stack.url(ROUTE), "wrong", &body).status,
        401
    );
    let unsigned = send(&stack, "POST", &stack.url(ROUTE), &[JSON], &body);
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.json()["error"], "unauthorized");
    let mut headers = signed_headers(&secret(&stack), Scheme::Pulser, &body);
    headers.push(("x-pulser-secret".into(), "nope".into()));
    let wrong_shared = send(&stack, "POST", &stack.url(ROUTE), &pairs(&headers), &body);
    assert_eq!(wrong_shared.status, 401);
    assert!(stack.github.calls().is_empty());
    assert_eq!(rows(&stack), "0");
}

/// GitHub Enterprise Server: `GITHUB_API_URL` carries the `/api/v3` path, which the
/// outbound allow-list (scheme, host, port only) cannot; `github_api_origin` feeds the
/// allow-list instead, so the edge host starts and the dispatch reaches the GHES layout.
#[test]
fn github_enterprise_server_with_its_api_path_dispatches() {
    let stack = Stack::builder().github_enterprise().start();
    assert!(stack.var("GITHUB_API_URL").ends_with("/api/v3"));
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&message("from odoo on GHES")),
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let calls = stack.github.calls();
    assert!(
        calls.iter().all(|c| c.path.starts_with("/api/v3/")),
        "{:?}",
        calls.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    assert_eq!(stack.github.dispatches().len(), 1);
}

#[test]
fn a_missing_setting_is_500_naming_it() {
    let stack = Stack::builder().variable("GITHUB_APP_ID", "").start();
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&message("m")),
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
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&message("skew")),
    );
    assert_eq!(
        answer.status,
        202,
        "{}\n{}",
        String::from_utf8_lossy(&answer.body),
        stack.logs()
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
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&json!({"message": "m", "request_id": "tokens-down-1"})),
    );
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json()["error"], "token_exchange_failed");
    assert_eq!(answer.json()["github_status"], 503);
    assert_eq!(row(&stack, "tokens-down-1")["status"], "failed");
}

#[test]
fn github_5xx_on_the_dispatch_is_502_dispatch_failed() {
    let stack = Stack::builder().start();
    stack.github.set_mode(GithubMode::FailDispatch(500));
    let answer = dispatch(
        &stack,
        &stack.url(ROUTE),
        &secret(&stack),
        &body(&message("m")),
    );
    assert_eq!(answer.status, 502);
    assert_eq!(answer.json()["error"], "dispatch_failed");
    assert_eq!(answer.json()["github_status"], 500);
}

/// Two dispatches and a replay: GitHub gets two dispatches, and as many installation tokens
/// as the runtime's state allows ([`Cell::token_cache`]): one where the Spin build keeps it in
/// key-value, a Worker isolate keeps it in memory or the edge host keeps the WASI instance
/// that holds it, one per dispatch where every request gets a fresh WASI instance. The JWT is
/// signed by Rust in wasm, or by WebCrypto on Workers.
#[test]
fn the_installation_token_lives_as_long_as_the_runtime_keeps_state() {
    let stack = Stack::builder().start();
    let first = body(&json!({"message": "m", "request_id": "token-1"}));
    let second = body(&json!({"message": "m", "request_id": "token-2"}));
    for signed in [&first, &second, &first] {
        if stack.cell().token_cache() == TokenCache::PerInstance {
            // The instance goes back on the shelf when its handler returns, a moment after
            // its answer went out; a request sent sooner would get a fresh one.
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let answer = dispatch(&stack, &stack.url(ROUTE), &secret(&stack), signed);
        assert!(
            answer.status == 202 || answer.json()["duplicate"] == true,
            "{}\n{}",
            String::from_utf8_lossy(&answer.body),
            stack.logs()
        );
    }
    assert_eq!(stack.github.dispatches().len(), 2);
    let expected_tokens = match stack.cell().token_cache() {
        TokenCache::AcrossRequests | TokenCache::PerInstance => 1,
        TokenCache::PerRequest => 2,
    };
    assert_eq!(
        stack.github.tokens_issued(),
        expected_tokens,
        "{}: {:?}",
        stack.cell().name(),
        stack.cell().token_cache()
    );
    assert_eq!(
        stack.sql("select string_agg(status, ',') from git_ops_dispatch"),
        "dispatched,dispatched"
    );
    let (signer, other) = if stack.cell() == Cell::Workerd {
        ("host", "rust")
    } else {
        ("rust", "host")
    };
    let logs = stack.logs();
    assert!(logs.contains(&format!(r#""signer":"{signer}""#)), "{logs}");
    assert!(!logs.contains(&format!(r#""signer":"{other}""#)), "{logs}");
    // Every call is framed by its length (the body-less token POST says 0), never chunked.
    for call in stack.github.calls() {
        let length = call.body.len().to_string();
        assert_eq!(
            (
                call.header("content-length"),
                call.header("transfer-encoding")
            ),
            (Some(length.as_str()), None),
            "{} {}",
            call.method,
            call.path
        );
    }
}

// ---- the README's signed curl ----------------------------------------------------------

#[test]
fn readme_curl_example_is_dispatched() {
    let stack = Stack::builder().start();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(pulser_tests::e2e::readme_block(
            "git-ops-curl-example",
            "sh",
        ))
        .env("EDGE_URL", stack.origin(ROUTE))
        .env("PULSER_WEBHOOK_SECRET", secret(&stack))
        .output()
        .unwrap_or_else(|e| panic!("sh, openssl and curl are needed for this test: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(r#""ok":true"#),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stack.github.dispatches().len(), 1);
    assert_eq!(
        stack.sql("select status from git_ops_dispatch"),
        "dispatched"
    );
}
