#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The OASIS read side on the cell's runtime, against real PostgREST and PostgreSQL: pages
//! and cursors, a read key or a signed-in user's own token under RLS, the live feed through a
//! real `EventSource` (Node's, the WHATWG implementation browsers follow), CORS and the rate
//! limit.
//!
//! Rows are inserted with SQL under a VTID no other test uses, so tests running side by
//! side never see each other's rows.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at (`NODE_BIN`).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pulser_tests::cell::Cell;
use pulser_tests::e2e::{assert_logs_clean, first_secret, send};
use pulser_tests::stack::{self, Stack, random_hex};
use serde_json::Value;

const FEED: &str = "/api/v1/devhub/feed";

/// A VTID of this test's own.
fn vtid() -> String {
    format!("TST-{}-0001", random_hex(4).to_ascii_uppercase())
}

/// Inserts one row under `vtid` and returns its id.
fn insert(stack: &Stack, vtid: &str, n: u32) -> u64 {
    stack
        .sql(&format!(
            "insert into public.oasis_events (vtid, layer, module, source, kind, status, title, delivery_id) \
             values ('{vtid}', 'TST', 'WORKFLOW', 'github.actions', 'workflow_run', 'success', 'row {n}', '{vtid}-{n}') \
             returning id"
        ))
        .parse()
        .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(stack: &Stack, path: &str, headers: &[(&str, &str)]) -> pulser_tests::Exchange {
    send(stack, "GET", &stack.url(path), headers, b"")
}

fn ids(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {page}"))
        .iter()
        .map(|row| row["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_page_by_vtid_is_newest_first_and_the_cursor_walks_every_row_once() {
    let stack = stack::shared();
    let vtid = vtid();
    let inserted: Vec<u64> = (1..=5).map(|n| insert(&stack, &vtid, n)).collect();
    let key = bearer(&first_secret(&stack, "OASIS_READ_KEY"));
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/oasis/events?vtid={vtid}&limit=2");
    for _ in 0..5 {
        let answer = get(&stack, &path, &[("authorization", &key)]);
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let page = answer.json();
        assert!(ids(&page).len() <= 2, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/events?vtid={vtid}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let mut newest_first = inserted.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    // The filters narrow it: every row is a successful workflow run from GitHub Actions.
    let page = get(
        &stack,
        &format!(
            "/events?vtid={vtid}&source=github.actions&kind=workflow_run&status=success&limit=500"
        ),
        &[("authorization", &key)],
    )
    .json();
    assert_eq!(ids(&page), newest_first);
    assert_eq!(page["events"][0]["title"], "row 5");
    let none = get(
        &stack,
        &format!("/events?vtid={vtid}&status=failure"),
        &[("authorization", &key)],
    )
    .json();
    assert_eq!(ids(&none), Vec::<u64>::new());
}

#[test]
fn a_signed_in_users_token_reads_under_rls_and_other_tokens_are_refused() {
    let stack = stack::shared();
    let vtid = vtid();
    let id = insert(&stack, &vtid, 1);
    let path = format!("/events?vtid={vtid}");
    let user = bearer(&stack.access_token("authenticated", "user-1", 600));
    let answer = get(&stack, &path, &[("authorization", &user)]);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(ids(&answer.json()), [id]);

    for (what, token) in [
        ("anon", stack.access_token("anon", "nobody", 600)),
        (
            "expired",
            stack.access_token("authenticated", "user-1", -600),
        ),
        (
            "forged",
            format!("{}x", stack.access_token("authenticated", "user-1", 600)),
        ),
    ] {
        let answer = get(&stack, &path, &[("authorization", &bearer(&token))]);
        assert_eq!(
            answer.status,
            401,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["error"], "unauthorized", "{what}");
    }
    for headers in [vec![], vec![("authorization", "Bearer not-a-key")]] {
        let answer = get(&stack, &path, &headers);
        assert_eq!(answer.status, 401);
        assert_eq!(answer.json()["header"], "authorization");
    }
    assert_logs_clean(&stack);
}

#[test]
fn a_bad_query_is_refused_naming_the_parameter() {
    let stack = stack::shared();
    let key = bearer(&first_secret(&stack, "OASIS_READ_KEY"));
    let answer = get(&stack, "/events?status=done", &[("authorization", &key)]);
    assert_eq!(
        (answer.status, answer.json()["field"].as_str()),
        (400, Some("status"))
    );
    let answer = get(&stack, "/events?or=(id.gt.0)", &[("authorization", &key)]);
    assert_eq!(answer.json()["error"], "unknown_parameter");
    let answer = send(
        &stack,
        "DELETE",
        &stack.url("/events"),
        &[("authorization", &key)],
        b"",
    );
    assert_eq!(
        (answer.status, answer.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
}

/// Node's `EventSource` (`--experimental-eventsource`: undici's WHATWG implementation) reads
/// the feed at `url` until it has `want` events, printing each as a JSON line, and every
/// (re)connection as `{"open": n}`.
const CLIENT: &str = r#"
const [url, want, timeoutMs] = process.argv.slice(1);
let opens = 0, seen = 0;
const source = new EventSource(url);
source.onopen = () => console.log(JSON.stringify({ open: ++opens }));
source.onmessage = (e) => {
  console.log(JSON.stringify({ id: e.lastEventId, data: JSON.parse(e.data) }));
  if (++seen >= Number(want)) { source.close(); process.exit(0); }
};
source.onerror = () => console.log(JSON.stringify({ error: source.readyState }));
setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(2); }, Number(timeoutMs));
"#;

#[test]
fn an_event_source_gets_every_event_once_in_order_across_reconnections() {
    let stack = stack::shared();
    let vtid = vtid();
    let mut expected = vec![insert(&stack, &vtid, 1), insert(&stack, &vtid, 2)];
    let key = first_secret(&stack, "OASIS_READ_KEY");
    let url = stack.url(&format!("{FEED}?vtid={vtid}&access_token={key}"));
    let mut client = Command::new(stack.tool("NODE_BIN"))
        .args([
            "--no-warnings",
            "--experimental-eventsource",
            "-e",
            CLIENT,
            &url,
            "4",
            "60000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let (mut got, mut opens) = (Vec::new(), 0);
    for line in lines {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if line["open"].is_number() {
            opens += 1;
        }
        if let Some(id) = line["id"].as_str() {
            assert_eq!(line["data"]["vtid"], vtid.as_str(), "{line}");
            got.push(id.parse::<u64>().unwrap());
            // The backlog is in: what comes now arrives while the client is connected or
            // between two of its connections.
            if got.len() == 2 {
                expected.push(insert(&stack, &vtid, 3));
                expected.push(insert(&stack, &vtid, 4));
            }
        }
        assert!(
            line["timeout"].is_null(),
            "the client timed out with {got:?}"
        );
    }
    let status = client.wait().unwrap();
    assert!(status.success(), "node exited {status} with {got:?}");
    assert_eq!(got, expected, "each event once, oldest first");
    assert!(
        opens >= 2,
        "it reconnected (Last-Event-ID) at least once: {opens} connections"
    );
    assert_logs_clean(&stack);
}

#[test]
fn a_feed_with_nothing_new_waits_then_says_when_to_reconnect() {
    let stack = stack::shared();
    let vtid = vtid();
    let id = insert(&stack, &vtid, 1);
    let key = bearer(&first_secret(&stack, "OASIS_READ_KEY"));
    let last = id.to_string();
    let started = Instant::now();
    let answer = get(
        &stack,
        &format!("{FEED}?vtid={vtid}"),
        &[("authorization", &key), ("last-event-id", &last)],
    );
    let waited = started.elapsed();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        "retry: 2000\n\n: nothing new\n\n"
    );
    // OASIS_FEED_WAIT_MS is 5000 by default: it asked again for about that long first.
    assert!(
        waited >= Duration::from_secs(4),
        "answered after {waited:?}"
    );
}

/// One stack with a low limit and a console origin, shared by the CORS and limit tests.
fn limited() -> Stack {
    Stack::builder()
        .variable("OASIS_CORS_ORIGINS", "https://console.pulser.test")
        .variable("OASIS_RATE_LIMIT", "3")
        .start()
}

#[test]
fn cors_names_a_listed_origin_and_refuses_the_others() {
    let stack = limited();
    let console = "https://console.pulser.test";
    let preflight = send(
        &stack,
        "OPTIONS",
        &stack.url("/api/v1/oasis/events"),
        &[
            ("origin", console),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(console)
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );

    let refused = get(&stack, "/events", &[("origin", console)]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("access-control-allow-origin"),
        Some(console),
        "a console can read why"
    );

    let other = get(&stack, "/events", &[("origin", "https://elsewhere.test")]);
    assert_eq!(
        (other.status, other.json()["error"].as_str()),
        (403, Some("origin_not_allowed"))
    );
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn a_client_over_its_limit_is_refused_where_the_runtime_can_count() {
    let stack = limited();
    let key = bearer(&first_secret(&stack, "OASIS_READ_KEY"));
    // The limit is per minute: a run that straddles a minute starts over once.
    for attempt in 0..2 {
        let minute = pulser_tests::clock::unix_now() / 60;
        let statuses: Vec<(u16, Option<String>)> = (0..4)
            .map(|_| {
                let answer = get(&stack, "/events?limit=1", &[("authorization", &key)]);
                (
                    answer.status,
                    answer.header("retry-after").map(str::to_owned),
                )
            })
            .collect();
        if pulser_tests::clock::unix_now() / 60 != minute && attempt == 0 {
            continue;
        }
        if Cell::current().counts_rate_limit() {
            assert_eq!(
                statuses.iter().map(|s| s.0).collect::<Vec<_>>(),
                [200, 200, 200, 429]
            );
            let retry: u64 = statuses[3].1.as_deref().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry), "retry-after {retry}");
            // Another client has its own count.
            let user = bearer(&stack.access_token("authenticated", "user-2", 600));
            assert_eq!(
                get(&stack, "/events?limit=1", &[("authorization", &user)]).status,
                200
            );
        } else {
            assert_eq!(
                statuses.iter().map(|s| s.0).collect::<Vec<_>>(),
                [200; 4],
                "{}",
                Cell::current().name()
            );
        }
        return;
    }
}

#[test]
fn readme_curl_example_reads_a_page_and_the_feed() {
    let stack = stack::shared();
    let id = insert(&stack, "DEV-CICDL-0031", 1);
    let output = Command::new("sh")
        .arg("-c")
        .arg(pulser_tests::e2e::readme_block("oasis-curl-example", "sh"))
        .env("EDGE_URL", stack.origin("/events"))
        .env("OASIS_READ_KEY", stack.var("OASIS_READ_KEY"))
        .output()
        .unwrap_or_else(|e| panic!("sh and curl are needed for this test: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("\"id\":{id}")),
        "the page holds the row: {stdout}"
    );
    assert!(
        stdout.contains("retry: 2000") && stdout.contains(&format!("id: {id}\n")),
        "{stdout}"
    );
}
