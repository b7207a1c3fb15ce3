#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The benchmark's peers are faithful: `bench/peers/ingest.ts` (Deno) does what our
//! `odoo_event_ingest` does, and `bench/peers/github.mjs` (Node 22 + @octokit/webhooks) does
//! what our `github_webhook` does, so `cargo xtask bench` compares equal work.
//!
//! Ours and the peer share one stack (real PostgreSQL 15 + PostgREST 12) and get the same
//! signed bytes with the same headers. Each stores its rows, answers a redelivery as a
//! duplicate without a second row, and then its rows are deleted, so the other meets the same
//! empty table. The two must give equal answers (the ids the database assigns masked) and store
//! equal rows: every column but `id` and `created_at`. Both refuse a forged signature with
//! the same 401 and store nothing.
//!
//! The GitHub payloads are the octokit/webhooks fixtures (MIT) in
//! functions/github_webhook/tests/fixtures/github/, as stored or changed in code where no
//! upstream example covers a case (their README says how). The suite runs once per
//! `cargo xtask test`, not per runtime cell: what it compares is the peers, and ours runs on the
//! default cell, edge-wasi, which is where the bench measures it. Needs `cargo xtask build`
//! (dist/) and the tools `cargo xtask test` points at (`DENO_BIN`, `NODE_BIN`,
//! `PULSER_NODE_MODULES` among them). A missing one fails, never skips.

use pulser_tests::e2e::{Scheme, first_secret, pairs, send, signed_headers, unique};
use pulser_tests::peers::{self, Peer};
use pulser_tests::stack::{self, Stack};
use pulser_tests::{Exchange, Service};
use serde_json::{Value, json};

const INGEST: &str = "/odoo_event_ingest";
const GITHUB: &str = "/webhooks/github";
/// The `x-correlation-id` every ingest request carries: the events without their own
/// `correlation_id` take it, on both sides alike.
const CORRELATION: &str = "0b0c0d0e-0f10-4112-9314-15161718191a";

/// `value` with every `id` that is a number (the ids the database assigns) replaced by a
/// marker, at any depth.
fn masked(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let item = if key == "id" && item.is_number() {
                        json!("<assigned>")
                    } else {
                        masked(item)
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// An answer as compared: status and JSON body, ids masked.
fn answer(exchange: &Exchange) -> (u16, Value) {
    (exchange.status, masked(&exchange.json()))
}

/// The rows `filter` selects from `table`, oldest first, as JSON objects without `id` and
/// `created_at`.
fn rows(stack: &Stack, table: &str, filter: &str) -> Value {
    let text = stack.sql(&format!(
        "select coalesce(json_agg(to_jsonb(t) - 'id' - 'created_at' order by t.id), '[]') \
         from {table} t where {filter}"
    ));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn count(rows: &Value) -> usize {
    rows.as_array().map_or(0, Vec::len)
}

// ---- odoo_event_ingest and the Deno peer ----------------------------------------------

/// The headers Odoo sends with `body`, signed with `secret`.
fn odoo_headers(secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = signed_headers(secret, Scheme::Hex, body);
    headers.push(("x-correlation-id".into(), CORRELATION.into()));
    headers
}

/// What one side did with one ingest request sent twice: both answers and the rows the first
/// stored. The rows of `marker` are deleted after.
#[derive(Debug, PartialEq)]
struct Ingested {
    first: (u16, Value),
    rows: Value,
    again: (u16, Value),
}

fn ingest_twice(stack: &Stack, url: &str, marker: &str, body: &[u8]) -> Ingested {
    let headers = odoo_headers(&first_secret(stack, "EDGE_HMAC_SECRET"), body);
    let filter = format!("payload->>'marker' = '{marker}'");
    let first = answer(&send(stack, "POST", url, &pairs(&headers), body));
    let stored = rows(stack, "audit_event", &filter);
    let again = answer(&send(stack, "POST", url, &pairs(&headers), body));
    assert_eq!(
        rows(stack, "audit_event", &filter),
        stored,
        "{url}: the redelivery wrote"
    );
    stack.sql(&format!("delete from audit_event where {filter}"));
    Ingested {
        first,
        rows: stored,
        again,
    }
}

/// Ingest bodies covering the main path: every field given, every field defaulted (the key
/// derived from the body's digest, the correlation id from the header), and a batch with a
/// key repeated, integer ids and both `occurred_at` forms.
fn ingest_cases() -> Vec<(&'static str, String, Value)> {
    let numeric_id = u32::from_str_radix(&stack::random_hex(3), 16).unwrap();
    let mut cases = Vec::new();
    for name in ["every field", "defaults", "batch"] {
        let marker = unique("peer");
        let payload = json!({"marker": marker, "amount": 12.5, "currency": "EUR", "lines": [{"qty": 2, "note": null}, true]});
        let body = match name {
            "every field" => json!({
                "event_type": "account.move.posted",
                "resource_id": format!("INV/2026/{marker}"),
                "payload": payload,
                "correlation_id": "6F1C1F64-0C5B-4D8E-9A57-0A5B7D1D1A11",
                "event_id": unique("evt"),
                "occurred_at": "2026-11-23 09:30:00",
                "ignored": "by both",
            }),
            "defaults" => {
                json!({"event_type": "sale.order.confirmed", "resource_id": 42, "payload": payload})
            }
            _ => {
                let key = unique("evt");
                json!([
                    {"event_type": "a", "resource_id": "1", "payload": payload, "event_id": key},
                    {"event_type": "b", "resource_id": 2, "payload": payload, "occurred_at": 1_795_428_000},
                    {"event_type": "c", "resource_id": "3", "payload": payload, "event_id": key},
                    {"event_type": "d", "resource_id": "4", "payload": payload, "event_id": numeric_id,
                     "occurred_at": "2026-11-23T10:00:00.5+05:30"},
                ])
            }
        };
        cases.push((name, marker, body));
    }
    cases
}

#[test]
fn the_deno_peer_stores_what_ingest_stores_and_answers_a_redelivery_alike() {
    let stack = stack::shared();
    let peer = peers::start(Peer::DenoIngest, &stack);
    for (name, marker, body) in ingest_cases() {
        let body = body.to_string().into_bytes();
        let ours = ingest_twice(&stack, &stack.url(INGEST), &marker, &body);
        let theirs = ingest_twice(&stack, &peer.url(INGEST), &marker, &body);
        assert!(
            ours.first.0 == 201 && count(&ours.rows) > 0,
            "{name}: ours did not store: {ours:?}"
        );
        assert_eq!(ours.again.0, 200, "{name}: ours took the redelivery as new");
        assert_eq!(ours, theirs, "{name}: the peer differs from ours");
    }
}

#[test]
fn the_deno_peer_refuses_a_forged_signature_as_ingest_does() {
    let stack = stack::shared();
    let peer = peers::start(Peer::DenoIngest, &stack);
    let marker = unique("forged");
    let body = json!({"event_type": "t", "resource_id": "1", "payload": {"marker": marker}})
        .to_string()
        .into_bytes();
    let headers = odoo_headers("not-the-secret-but-as-long", &body);
    let refusals: Vec<(u16, Value)> = [stack.url(INGEST), peer.url(INGEST)]
        .iter()
        .map(|url| answer(&send(&stack, "POST", url, &pairs(&headers), &body)))
        .collect();
    assert_eq!(refusals[0].0, 401, "{:?}", refusals[0]);
    assert_eq!(refusals[0], refusals[1]);
    let filter = format!("payload->>'marker' = '{marker}'");
    assert_eq!(count(&rows(&stack, "audit_event", &filter)), 0);
}

// ---- github_webhook and the Node peer -------------------------------------------------

fn fixture(name: &str) -> Vec<u8> {
    let path = stack::project_root()
        .join("functions/github_webhook/tests/fixtures/github")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture `name` with `change` applied, re-serialized.
fn derived(name: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture(name)).unwrap();
    change(&mut body);
    serde_json::to_vec(&body).unwrap()
}

/// Every stored event kind: each fixture as stored (the bytes GitHub signed), and the cases no
/// upstream example covers, derived in code: a merged pull request, a failed run, and VTIDs in
/// each place the search looks, in its order.
fn github_cases() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut cases: Vec<(&'static str, &'static str, Vec<u8>)> = [
        ("workflow_run", "workflow_run.requested.json"),
        ("workflow_run", "workflow_run.completed.success.json"),
        (
            "workflow_run",
            "workflow_run.completed.success.with-pull-requests.json",
        ),
        ("check_run", "check_run.created.json"),
        ("check_run", "check_run.completed.success.json"),
        ("check_run", "check_run.completed.failure.json"),
        ("pull_request", "pull_request.opened.json"),
        ("pull_request", "pull_request.closed.unmerged.json"),
        ("push", "push.json"),
        ("push", "push.with-new-branch.json"),
    ]
    .into_iter()
    .map(|(event, file)| (event, file, fixture(file)))
    .collect();
    cases.extend([
        (
            "pull_request",
            "merged, VTID in the title",
            derived("pull_request.closed.unmerged.json", |b| {
                b["pull_request"]["merged"] = json!(true);
                b["pull_request"]["merged_at"] = json!("2026-11-23T10:00:00Z");
                b["pull_request"]["title"] = json!("éDEV-A-0001 is glued; [DEV-CICDL-0031] fix");
                b["pull_request"]["head"]["ref"] = json!("feature/OPS-B-0002");
            }),
        ),
        (
            "workflow_run",
            "failed, VTID in the branch",
            derived("workflow_run.completed.success.json", |b| {
                b["workflow_run"]["conclusion"] = json!("failure");
                b["workflow_run"]["head_branch"] = json!("feature/OPS-X1-0042-retry");
            }),
        ),
        (
            "workflow_run",
            "triggered by a pull request, VTID in its title",
            derived("workflow_run.completed.success.json", |b| {
                b["workflow_run"]["event"] = json!("pull_request");
                b["workflow_run"]["display_title"] = json!("DEV-T-1234: a title");
                b["workflow_run"]["head_branch"] = json!("OPS-B-0002");
                b["workflow_run"]["name"] = json!("");
            }),
        ),
        (
            "check_run",
            "VTID in the suite's branch",
            derived("check_run.completed.failure.json", |b| {
                b["check_run"]["check_suite"]["head_branch"] = json!("DEV-CHK-0001");
                b["check_run"]["conclusion"] = json!("timed_out");
            }),
        ),
        (
            "push",
            "VTID in the second commit",
            derived("push.with-new-branch.json", |b| {
                b["ref"] = json!("refs/heads/main");
                b["head_commit"] = json!({"message": "tidy up"});
                b["commits"] = json!([
                    {"message": "tidy up"},
                    {"message": "DEV-PUSH-0007 retry"},
                    {"message": "OPS-X-0001 later"},
                ]);
            }),
        ),
    ]);
    cases
}

/// What one side did with one delivery, its redelivery and the same body under a new GUID:
/// the three answers and the rows stored. The rows of both GUIDs are deleted after.
#[derive(Debug, PartialEq)]
struct Delivered {
    first: (u16, Value),
    rows: Value,
    redelivered: (u16, Value),
    new_guid: (u16, Value),
}

fn deliver(stack: &Stack, url: &str, event: &str, delivery: &str, body: &[u8]) -> Exchange {
    let secret = first_secret(stack, "GITHUB_WEBHOOK_SECRET");
    let headers = signed_headers(&secret, Scheme::Github { event, delivery }, body);
    send(stack, "POST", url, &pairs(&headers), body)
}

fn deliver_thrice(
    stack: &Stack,
    url: &str,
    event: &str,
    guids: [&str; 2],
    body: &[u8],
) -> Delivered {
    let filter = format!("delivery_id in ('{}', '{}')", guids[0], guids[1]);
    let first = answer(&deliver(stack, url, event, guids[0], body));
    let stored = rows(stack, "oasis_events", &filter);
    let redelivered = answer(&deliver(stack, url, event, guids[0], body));
    let new_guid = answer(&deliver(stack, url, event, guids[1], body));
    assert_eq!(
        rows(stack, "oasis_events", &filter),
        stored,
        "{url}: a repeat wrote"
    );
    stack.sql(&format!("delete from oasis_events where {filter}"));
    Delivered {
        first,
        rows: stored,
        redelivered,
        new_guid,
    }
}

#[test]
fn the_node_peer_stores_what_github_webhook_stores_and_answers_a_redelivery_alike() {
    let stack = stack::shared();
    let peer = peers::start(Peer::NodeGithub, &stack);
    for (event, case, body) in github_cases() {
        let guids = [unique("peer-delivery"), unique("peer-delivery")];
        let guids = [guids[0].as_str(), guids[1].as_str()];
        let ours = deliver_thrice(&stack, &stack.url(GITHUB), event, guids, &body);
        let theirs = deliver_thrice(&stack, &peer.url(GITHUB), event, guids, &body);
        assert!(
            ours.first.0 == 201 && count(&ours.rows) == 1,
            "{case}: ours did not store one row: {ours:?}"
        );
        assert_eq!(
            (ours.redelivered.0, ours.new_guid.0),
            (200, 200),
            "{case}: {ours:?}"
        );
        assert_eq!(ours, theirs, "{case}: the peer differs from ours");
    }
}

#[test]
fn the_node_peer_answers_pings_and_events_it_does_not_store_as_github_webhook_does() {
    let stack = stack::shared();
    let peer = peers::start(Peer::NodeGithub, &stack);
    for (event, file) in [
        ("ping", "ping.json"),
        ("ping", "ping.with-app_id.json"),
        ("issues", "ping.json"),
    ] {
        let delivery = unique("peer-unstored");
        let body = fixture(file);
        let answers: Vec<(u16, Value)> = [stack.url(GITHUB), peer.url(GITHUB)]
            .iter()
            .map(|url| answer(&deliver(&stack, url, event, &delivery, &body)))
            .collect();
        assert!(
            matches!(answers[0].0, 200 | 202),
            "{event} {file}: {:?}",
            answers[0]
        );
        assert_eq!(answers[0], answers[1], "{event} {file}");
        let filter = format!("delivery_id = '{delivery}'");
        assert_eq!(count(&rows(&stack, "oasis_events", &filter)), 0);
    }
}

#[test]
fn the_node_peer_refuses_a_forged_signature_as_github_webhook_does() {
    let stack = stack::shared();
    let peer = peers::start(Peer::NodeGithub, &stack);
    let delivery = unique("peer-forged");
    let body = fixture("push.with-new-branch.json");
    let headers = signed_headers(
        "not-the-secret-but-as-long",
        Scheme::Github {
            event: "push",
            delivery: &delivery,
        },
        &body,
    );
    let refusals: Vec<(u16, Value)> = [stack.url(GITHUB), peer.url(GITHUB)]
        .iter()
        .map(|url| answer(&send(&stack, "POST", url, &pairs(&headers), &body)))
        .collect();
    assert_eq!(refusals[0].0, 401, "{:?}", refusals[0]);
    assert_eq!(refusals[0], refusals[1]);
    let filter = format!("delivery_id = '{delivery}'");
    assert_eq!(count(&rows(&stack, "oasis_events", &filter)), 0);
}

// ---- what the bench reads from a peer -------------------------------------------------

/// The local addresses (`ip:port`, hex as the kernel writes them) of the TCP sockets
/// listening in `pid`'s network namespace on `port`.
fn listening(pid: u32, port: u16) -> Vec<String> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = *fields.get(1)?;
            let listen = fields.get(3) == Some(&"0A");
            (listen && local.ends_with(&format!(":{port:04X}"))).then(|| local.to_owned())
        })
        .collect()
}

#[test]
fn each_peer_is_one_native_process_listening_on_loopback_only() {
    let stack = stack::shared();
    for peer in Peer::ALL {
        let service: Service = peers::start(peer, &stack);
        let pid = service.pid();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        let runtime = stack.tool(peer.runtime_var()).canonicalize().unwrap();
        assert_eq!(
            exe.canonicalize().unwrap(),
            runtime,
            "{}: the PID is not the runtime's own",
            peer.name()
        );
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(
            status.lines().any(|l| l.starts_with("VmHWM:")),
            "{}: no peak RSS in /proc/{pid}/status",
            peer.name()
        );
        assert_eq!(
            listening(pid, service.port),
            ["0100007F:".to_owned() + &format!("{:04X}", service.port)],
            "{}: not 127.0.0.1 only",
            peer.name()
        );
        let get = send(&stack, "GET", &service.url(INGEST), &[], b"");
        assert_eq!(
            (get.status, get.header("allow")),
            (405, Some("POST")),
            "{}",
            peer.name()
        );
    }
}
