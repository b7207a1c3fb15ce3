#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `github_webhook` end to end on the cell's runtime (`PULSER_CELL`, see `pulser_tests::cell`)
//! against real PostgreSQL 15 + PostgREST 12, with real GitHub payloads (octokit/webhooks
//! fixtures, MIT, in functions/github_webhook/tests/fixtures/github/).
//!
//! Tests on the shared stack keep apart by unique delivery ids and unique bodies (a body is
//! stored once whatever its GUID, so each fixture gets a nonce field); a test that changes
//! the secret list starts its own stack. Needs `cargo xtask build` (dist/) and the tools
//! `cargo xtask test` points at.

use pulser_tests::Exchange;
use pulser_tests::e2e::{
    Scheme, assert_logs_clean, first_secret, pairs, post_signed, send, signed_headers, unique,
};
use pulser_tests::stack::{self, Stack};

const ROUTE: &str = "/webhooks/github";

/// The fixture `name` with a unique top-level `e2e_nonce` field (GitHub payloads carry
/// fields the function ignores): a body no other test sends.
fn fixture(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(
        stack::project_root()
            .join("functions/github_webhook/tests/fixtures/github")
            .join(name),
    )
    .unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    body["e2e_nonce"] = unique("nonce").into();
    serde_json::to_vec(&body).unwrap()
}

/// POSTs `body` to `url` as GitHub delivers it, signed with `secret`.
fn deliver(
    stack: &Stack,
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Exchange {
    post_signed(stack, url, secret, Scheme::Github { event, delivery }, body)
}

/// A correctly signed delivery to the cell with the header `missing` left out.
fn deliver_without(
    stack: &Stack,
    missing: &str,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Exchange {
    let mut headers = signed_headers(&secret(stack), Scheme::Github { event, delivery }, body);
    headers.retain(|(name, _)| name != missing);
    send(stack, "POST", &stack.url(ROUTE), &pairs(&headers), body)
}

/// [`deliver`] to the cell's runtime, signed with the stack's first GitHub secret.
fn deliver_to_cell(stack: &Stack, event: &str, delivery: &str, body: &[u8]) -> Exchange {
    deliver(
        stack,
        &stack.url(ROUTE),
        &secret(stack),
        event,
        delivery,
        body,
    )
}

fn secret(stack: &Stack) -> String {
    first_secret(stack, "GITHUB_WEBHOOK_SECRET")
}

fn rows(stack: &Stack, delivery: &str) -> String {
    stack.sql(&format!(
        "select count(*) from oasis_events where delivery_id = '{delivery}'"
    ))
}

#[test]
fn every_stored_event_lands_once_with_its_normalized_row() {
    let stack = stack::shared();
    let secret = secret(&stack);
    for (event, file, status, title) in [
        (
            "workflow_run",
            "workflow_run.completed.success.json",
            "success",
            "UNSET-WORKFLOW-COMPLETED",
        ),
        (
            "workflow_run",
            "workflow_run.requested.json",
            "queued",
            "UNSET-WORKFLOW-REQUESTED",
        ),
        (
            "check_run",
            "check_run.completed.failure.json",
            "failure",
            "UNSET-CHECK-COMPLETED",
        ),
        (
            "pull_request",
            "pull_request.closed.unmerged.json",
            "cancelled",
            "UNSET-PR-CLOSED",
        ),
        (
            "push",
            "push.with-new-branch.json",
            "success",
            "UNSET-PUSH-PUSHED",
        ),
    ] {
        let delivery = unique("e2e");
        let answer = deliver(
            &stack,
            &stack.url(ROUTE),
            &secret,
            event,
            &delivery,
            &fixture(file),
        );
        assert_eq!(
            answer.status,
            201,
            "{file}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(answer.header("x-correlation-id").is_some());
        let row = stack.sql(&format!(
            "select kind || '|' || status || '|' || title || '|' || module from oasis_events where delivery_id = '{delivery}'"
        ));
        let module = match event {
            "workflow_run" => "WORKFLOW",
            "check_run" => "CHECK",
            "pull_request" => "PR",
            _ => "PUSH",
        };
        assert_eq!(row, format!("{event}|{status}|{title}|{module}"), "{file}");
    }
}

#[test]
fn a_vtid_in_the_pr_title_is_stored_with_its_layer() {
    let stack = stack::shared();
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("pull_request.closed.unmerged.json")).unwrap();
    body["pull_request"]["merged"] = true.into();
    body["pull_request"]["title"] = "DEV-CICDL-0031: merge the edge".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "pull_request", &delivery, &bytes);
    assert_eq!(answer.status, 201);
    let row = stack.sql(&format!(
        "select vtid || '|' || layer || '|' || status || '|' || title || '|' || (meta->>'merged') from oasis_events where delivery_id = '{delivery}'"
    ));
    assert_eq!(row, "DEV-CICDL-0031|CICDL|success|CICDL-PR-MERGED|true");
}

#[test]
fn a_redelivery_is_deduplicated() {
    let stack = stack::shared();
    let delivery = unique("e2e");
    let body = fixture("push.json");
    assert_eq!(
        deliver_to_cell(&stack, "push", &delivery, &body).status,
        201
    );
    let again = deliver_to_cell(&stack, "push", &delivery, &body);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(rows(&stack, &delivery), "1");
}

/// GitHub does not sign `X-GitHub-Delivery`: a captured delivery replayed under a fresh GUID
/// carries a valid signature, and must still write nothing.
#[test]
fn the_same_body_under_a_new_delivery_id_writes_nothing() {
    let stack = stack::shared();
    let (first, replayed) = (unique("e2e"), unique("e2e"));
    let body = fixture("workflow_run.completed.success.json");
    let answer = deliver_to_cell(&stack, "workflow_run", &first, &body);
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let again = deliver_to_cell(&stack, "workflow_run", &replayed, &body);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(rows(&stack, &first), "1");
    assert_eq!(rows(&stack, &replayed), "0");
    // One byte more is another body: stored under its own GUID.
    let mut changed = body.clone();
    changed.push(b' ');
    let third = unique("e2e");
    assert_eq!(
        deliver_to_cell(&stack, "workflow_run", &third, &changed).status,
        201
    );
    assert_eq!(rows(&stack, &third), "1");
}

#[test]
fn ping_answers_and_stores_nothing() {
    let stack = stack::shared();
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "ping", &delivery, &fixture("ping.json"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["pong"], true);
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn other_events_are_ignored_with_202() {
    let stack = stack::shared();
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "issues", &delivery, br#"{"action":"opened"}"#);
    assert_eq!(answer.status, 202);
    assert_eq!(answer.json()["ignored"], "issues");
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn a_wrong_signature_is_401_and_stores_nothing() {
    let stack = stack::shared();
    let delivery = unique("e2e");
    let answer = deliver(
        &stack,
        &stack.url(ROUTE),
        "not the secret",
        "push",
        &delivery,
        &fixture("push.json"),
    );
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"], "unauthorized");
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn a_missing_signature_is_401_and_stores_nothing() {
    let stack = stack::shared();
    let delivery = unique("e2e");
    let answer = deliver_without(
        &stack,
        "x-hub-signature-256",
        "push",
        &delivery,
        &fixture("push.json"),
    );
    assert_eq!(answer.status, 401);
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn a_missing_event_header_is_400_naming_it() {
    let stack = stack::shared();
    let body = fixture("push.json");
    let delivery = unique("e2e");
    let answer = deliver_without(&stack, "x-github-event", "push", &delivery, &body);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["header"], "x-github-event");
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn a_missing_delivery_header_is_400_naming_it() {
    let stack = stack::shared();
    // Without a delivery id the row is found by a unique head sha instead.
    let marker = unique("e2e");
    let mut body: serde_json::Value = serde_json::from_slice(&fixture("push.json")).unwrap();
    body["after"] = marker.clone().into();
    let body = serde_json::to_vec(&body).unwrap();
    let answer = deliver_without(&stack, "x-github-delivery", "push", "", &body);
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["header"], "x-github-delivery");
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from oasis_events where meta->>'head_sha' = '{marker}'"
        )),
        "0"
    );
}

#[test]
fn a_delivery_of_several_megabytes_is_accepted() {
    let stack = stack::shared();
    let mut body: serde_json::Value = serde_json::from_slice(&fixture("push.json")).unwrap();
    body["padding"] = "x".repeat(5 * 1024 * 1024).into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "push", &delivery, &bytes);
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(rows(&stack, &delivery), "1");
}

/// A signed push delivery padded to exactly `len` bytes, with a unique head sha to find it by.
fn push_of_length(len: usize) -> (Vec<u8>, String) {
    let marker = unique("e2e");
    let mut body: serde_json::Value = serde_json::from_slice(&fixture("push.json")).unwrap();
    body["after"] = marker.clone().into();
    body["padding"] = "".into();
    let bare = serde_json::to_vec(&body).unwrap().len();
    body["padding"] = "x".repeat(len - bare).into();
    let bytes = serde_json::to_vec(&body).unwrap();
    assert_eq!(bytes.len(), len);
    (bytes, marker)
}

/// GitHub caps deliveries at 25 MB: exactly 25 MiB passes the edge host (spin.toml's
/// `max_body_bytes`) and the component's own limit, and is stored.
#[test]
fn a_delivery_at_githubs_25_mib_cap_is_accepted() {
    let stack = stack::shared();
    let (bytes, _) = push_of_length(25 * 1024 * 1024);
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "push", &delivery, &bytes);
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(rows(&stack, &delivery), "1");
}

/// The commit every element of [`push_with_commits`]'s list but the last is: tiny, so the
/// list is as long as a delivery under the cap allows, with an escape to decode.
const TINY_COMMIT: &str = r#"{"message":"fix\n"}"#;
/// The last commit: the only message naming a VTID.
const LAST_COMMIT: &str = r#"{"message":"retry (DEV-LIST-0042)\n"}"#;

/// A signed push whose `commits` list fills it to just under GitHub's 25 MiB cap (over a
/// million tiny commits); and how many commits it lists.
fn push_with_commits() -> (Vec<u8>, usize) {
    let mut body: serde_json::Value = serde_json::from_slice(&fixture("push.json")).unwrap();
    body["commits"] = serde_json::json!([]);
    let bare = serde_json::to_string(&body).unwrap();
    let room = 25 * 1024 * 1024 - bare.len() - LAST_COMMIT.len();
    let count = room / (TINY_COMMIT.len() + 1) + 1;
    let mut commits = String::with_capacity(room + LAST_COMMIT.len() + 2);
    commits.push_str(r#""commits":["#);
    for _ in 1..count {
        commits.push_str(TINY_COMMIT);
        commits.push(',');
    }
    commits.push_str(LAST_COMMIT);
    commits.push(']');
    let bytes = bare.replacen(r#""commits":[]"#, &commits, 1).into_bytes();
    assert!(bytes.len() <= 25 * 1024 * 1024, "{} bytes", bytes.len());
    (bytes, count)
}

/// `count commits|vtid` of the row stored for `delivery`.
fn commits_and_vtid(stack: &Stack, delivery: &str) -> String {
    stack.sql(&format!(
        "select (meta->>'commits') || '|' || vtid from oasis_events where delivery_id = '{delivery}'"
    ))
}

/// The picker counts the commits and keeps only the first message naming a VTID, so a
/// list of over a million fits the edge host's instance memory (128 MiB by default) beside
/// the body; it used to keep an entry per commit and trap.
#[test]
fn a_push_listing_a_million_commits_is_stored_with_its_count() {
    let stack = stack::shared();
    let (bytes, count) = push_with_commits();
    assert!(count > 1_000_000, "{count} commits");
    let delivery = unique("e2e");
    let answer = deliver_to_cell(&stack, "push", &delivery, &bytes);
    assert_eq!(
        answer.status,
        201,
        "{}\n{}",
        String::from_utf8_lossy(&answer.body),
        stack.logs()
    );
    assert_eq!(answer.json()["vtid"], "DEV-LIST-0042");
    assert_eq!(
        commits_and_vtid(&stack, &delivery),
        format!("{count}|DEV-LIST-0042")
    );
}

#[test]
fn a_delivery_over_githubs_cap_is_413_and_stores_nothing() {
    let stack = stack::shared();
    let (bytes, marker) = push_of_length(25 * 1024 * 1024 + 1);
    let answer = deliver_to_cell(&stack, "push", &unique("e2e"), &bytes);
    assert_eq!(answer.status, 413);
    assert_eq!(answer.json()["error"], "payload_too_large");
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from oasis_events where meta->>'head_sha' = '{marker}'"
        )),
        "0"
    );
}

#[test]
fn postgrest_down_is_503_with_retry_after_and_stores_nothing() {
    let mut stack = Stack::builder().start();
    let url = stack.url(ROUTE);
    let secret = secret(&stack);
    let delivery = unique("e2e");
    let body = fixture("workflow_run.requested.json");
    stack.stop_postgrest();
    let answer = deliver(&stack, &url, &secret, "workflow_run", &delivery, &body);
    assert_eq!(
        answer.status,
        503,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.json()["error"],
        stack.cell().unreachable_write_error()
    );
    assert!(answer.header("retry-after").is_some());
    assert_eq!(rows(&stack, &delivery), "0");
}

#[test]
fn a_rotated_out_secret_is_401_and_the_new_one_succeeds() {
    let stack = Stack::builder()
        .variable(
            "GITHUB_WEBHOOK_SECRET",
            "new-secret-0123456,old-secret-0123456",
        )
        .start();
    let url = stack.url(ROUTE);
    let body = fixture("push.json");
    assert_eq!(
        deliver(
            &stack,
            &url,
            "old-secret-0123456",
            "push",
            &unique("e2e"),
            &body
        )
        .status,
        201,
        "the old secret still verifies during rotation"
    );
    drop(stack);
    let stack = Stack::builder()
        .variable("GITHUB_WEBHOOK_SECRET", "new-secret-0123456")
        .start();
    let url = stack.url(ROUTE);
    let rotated = unique("e2e");
    assert_eq!(
        deliver(&stack, &url, "old-secret-0123456", "push", &rotated, &body).status,
        401
    );
    assert_eq!(rows(&stack, &rotated), "0");
    assert_eq!(
        deliver(
            &stack,
            &url,
            "new-secret-0123456",
            "push",
            &unique("e2e"),
            &body
        )
        .status,
        201
    );
}

#[test]
fn no_secret_reaches_the_logs() {
    let stack = stack::shared();
    let _ = deliver(
        &stack,
        &stack.url(ROUTE),
        "wrong",
        "push",
        &unique("e2e"),
        &fixture("push.json"),
    );
    assert_logs_clean(&stack);
}
