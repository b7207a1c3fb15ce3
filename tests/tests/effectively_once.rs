#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Effectively once, under faults: the functions on the cell's runtime (`PULSER_CELL`), with a
//! fault-injecting proxy between them and real PostgREST 12 (tests/src/fault.rs) and the
//! Odoo stand-in failing on demand. Every test asserts the end state, not only the answer:
//! how many rows exist, and how many times Odoo applied each idempotency key.
//!
//! The load tests are bounded by count (and a round limit), run on 127.0.0.1 only, and
//! stop by themselves; their fault mixes are seeded, so a run is reproducible.
//!
//! Each test starts its own stack (faults and stand-in modes are per stack). Needs
//! `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use std::time::Duration;

use pulser_tests::Exchange;
use pulser_tests::bridge::{
    DRAIN, PUSH, account_move, bearer, edge_secret, idempotency_key, ingest_signed, push_webhook,
};
use pulser_tests::e2e::{Scheme, assert_logs_clean, post, post_signed, unique};
use pulser_tests::fault::Fault;
use pulser_tests::stack::{OdooMode, Stack};
use serde_json::json;

fn faulty_stack() -> Stack {
    Stack::builder().postgrest_faults().start()
}

fn audit_rows(stack: &Stack, marker: &str) -> String {
    stack.sql(&format!(
        "select count(*) from audit_event where resource_id = '{marker}'"
    ))
}

/// An event without `event_id`, keyed by its signed bytes.
fn event_body(marker: &str) -> String {
    json!({"event_type": "account.move.posted", "resource_id": marker, "payload": {"amount": 1}})
        .to_string()
}

fn assert_error(exchange: &Exchange, status: u16, code: &str) {
    let body = exchange.json();
    assert_eq!(
        (exchange.status, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
}

fn outbox_state(stack: &Stack, id: i64) -> String {
    stack.sql(&format!(
        "select status || '|' || attempts from odoo_action_outbox where id = {id}"
    ))
}

fn effects_of(stack: &Stack, key: &str) -> usize {
    stack.odoo.effects().iter().filter(|k| *k == key).count()
}

// ---- odoo_event_ingest -----------------------------------------------------------------

#[test]
fn ingest_committed_but_the_answer_lost_is_unknown_and_the_retry_stores_once() {
    let stack = faulty_stack();
    let marker = unique("lost-answer");
    let body = event_body(&marker);
    stack
        .faults()
        .set(Fault::Once(Box::new(Fault::CommitThenDrop)));
    let first = ingest_signed(&stack, &body);
    assert_error(&first, 503, "store_outcome_unknown");
    assert!(first.header("retry-after").is_some());
    assert_eq!(audit_rows(&stack, &marker), "1", "the insert did commit");
    let retry = ingest_signed(&stack, &body);
    assert_eq!(
        retry.status,
        200,
        "{}",
        String::from_utf8_lossy(&retry.body)
    );
    assert_eq!(retry.json()["duplicate"], true);
    assert_eq!(audit_rows(&stack, &marker), "1");
    assert_logs_clean(&stack);
}

#[test]
fn ingest_with_postgrest_answering_5xx_stores_nothing_and_the_retry_stores_once() {
    let stack = faulty_stack();
    let marker = unique("5xx");
    let body = event_body(&marker);
    stack.faults().set(Fault::Status(503));
    assert_error(&ingest_signed(&stack, &body), 503, "store_unavailable");
    assert_eq!(audit_rows(&stack, &marker), "0");
    stack.faults().set(Fault::Pass);
    assert_eq!(ingest_signed(&stack, &body).status, 201);
    assert_eq!(audit_rows(&stack, &marker), "1");
}

/// PostgREST commits but answers after the component's PostgREST timeout.
#[test]
fn ingest_answered_too_late_is_unknown_and_the_retry_stores_once() {
    let stack = faulty_stack();
    let marker = unique("slow");
    let body = event_body(&marker);
    let late = odoo_event_ingest::POSTGREST_TIMEOUT + Duration::from_secs(2);
    stack
        .faults()
        .set(Fault::Once(Box::new(Fault::SlowAnswer(late))));
    assert_error(&ingest_signed(&stack, &body), 503, "store_outcome_unknown");
    assert_eq!(audit_rows(&stack, &marker), "1");
    assert_eq!(ingest_signed(&stack, &body).json()["duplicate"], true);
    assert_eq!(audit_rows(&stack, &marker), "1");
}

/// The edge host kills the component at its deadline (2 s here) while PostgREST has already
/// committed: the caller gets 504, and its retry stores nothing new. Where the runtime has no
/// wall-clock deadline (`Cell::has_request_deadline`: `wasmtime serve`, workerd) the
/// function waits for the slow answer (within its own 5 s PostgREST timeout) and answers 201;
/// the retry is a duplicate all the same.
#[test]
fn ingest_killed_at_its_deadline_after_the_commit_stores_once_on_retry() {
    let stack = Stack::builder()
        .postgrest_faults()
        .request_timeout_secs(2)
        .start();
    let marker = unique("deadline");
    let body = event_body(&marker);
    stack.faults().set(Fault::Once(Box::new(Fault::SlowAnswer(
        Duration::from_secs(4),
    ))));
    let first = ingest_signed(&stack, &body);
    if stack.cell().has_request_deadline() {
        assert_error(&first, 504, "timeout");
    } else {
        assert_eq!(
            first.status,
            201,
            "{}",
            String::from_utf8_lossy(&first.body)
        );
    }
    assert_eq!(audit_rows(&stack, &marker), "1");
    assert_eq!(ingest_signed(&stack, &body).json()["duplicate"], true);
    assert_eq!(audit_rows(&stack, &marker), "1");
}

// ---- push_to_odoo ------------------------------------------------------------------------

fn direct_call(stack: &Stack, body: &str) -> Exchange {
    post_signed(
        stack,
        &stack.url(PUSH),
        &edge_secret(stack),
        Scheme::Hex,
        body.as_bytes(),
    )
}

/// The direct call's insert commits but its answer is lost: the caller repeats the call,
/// which finds the row by `request_id` and delivers it, once.
#[test]
fn push_direct_call_whose_insert_answer_was_lost_takes_effect_once_on_retry() {
    let stack = faulty_stack();
    let request_id = unique("call");
    let body = json!({"action": "account.move.post", "args": {"id": 77}, "request_id": request_id})
        .to_string();
    stack
        .faults()
        .set(Fault::Once(Box::new(Fault::CommitThenDrop)));
    assert_error(&direct_call(&stack, &body), 503, "store_outcome_unknown");
    assert!(
        stack.odoo.effects().is_empty(),
        "nothing sent after an unknown insert"
    );
    let retry = direct_call(&stack, &body);
    let json = retry.json();
    assert_eq!(
        (json["status"].as_str(), json["duplicate"].as_bool()),
        (Some("applied"), Some(true)),
        "{json}"
    );
    let id = json["id"].as_i64().unwrap();
    assert_eq!(effects_of(&stack, &idempotency_key(&stack, id)), 1);
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from odoo_action_outbox where request_id = '{request_id}'"
        )),
        "1"
    );
}

/// Odoo applied the row and the outcome write committed, but its answer was lost: the
/// caller hears "unknown", the row is applied, and nothing delivers it again.
#[test]
fn push_outcome_written_but_its_answer_lost_is_unknown_and_final() {
    let stack = faulty_stack();
    let (id, _) = account_move(&stack);
    // Claim passes; the outcome PATCH commits and its answer is dropped.
    stack
        .faults()
        .set(Fault::After(1, Box::new(Fault::CommitThenDrop)));
    assert_error(&push_webhook(&stack, id), 503, "store_outcome_unknown");
    assert_eq!(outbox_state(&stack, id), "applied|1");
    let auth = bearer(&stack);
    let drained = post(&stack, DRAIN, &[("authorization", &auth)], b"").json();
    assert_eq!(drained["count"], 0, "{drained}");
    assert_eq!(effects_of(&stack, &idempotency_key(&stack, id)), 1);
}

/// Odoo applied the row but the outcome could not be written at all: the row stays `sent`
/// until its lease passes, the drain delivers it again with the same key, and Odoo's
/// deduplication keeps it to one effect.
#[test]
fn push_outcome_not_written_after_odoo_applied_is_recovered_with_one_effect() {
    let stack = Stack::builder()
        .postgrest_faults()
        .variable("OUTBOX_LEASE_SECS", "60")
        .start();
    let (id, _) = account_move(&stack);
    stack
        .faults()
        .set(Fault::After(1, Box::new(Fault::Status(503))));
    assert_error(&push_webhook(&stack, id), 503, "store_unavailable");
    assert_eq!(outbox_state(&stack, id), "sent|0");
    let key = idempotency_key(&stack, id);
    assert_eq!(effects_of(&stack, &key), 1);
    // The lease passes.
    stack.sql(&format!(
        "update odoo_action_outbox set sent_at = sent_at - interval '2 minutes' where id = {id}"
    ));
    let auth = bearer(&stack);
    let drained = post(&stack, DRAIN, &[("authorization", &auth)], b"").json();
    assert_eq!(drained["rows"][0]["status"], "applied", "{drained}");
    assert_eq!(outbox_state(&stack, id), "applied|2");
    assert_eq!(
        effects_of(&stack, &key),
        1,
        "the second delivery was a duplicate for Odoo"
    );
    assert_eq!(stack.odoo.calls().len(), 2);
}

// ---- bounded load with faults ------------------------------------------------------------

/// Sends `send()` until it is answered 2xx, at most `tries` times; the answers.
fn until_accepted(tries: usize, send: impl Fn() -> Exchange) -> Vec<Exchange> {
    let mut answers = Vec::new();
    for _ in 0..tries {
        let answer = send();
        let done = (200..300).contains(&answer.status);
        answers.push(answer);
        if done {
            break;
        }
    }
    answers
}

/// 120 signed events, half with their own `event_id` and half keyed by their bytes, sent by
/// three clients that retry every 503 while PostgREST fails 20% of requests and loses the
/// answer of another 10% after committing: exactly 120 rows, one per event.
#[test]
fn load_ingest_with_postgrest_faults_and_client_retries_stores_exactly_n_rows() {
    const EVENTS: usize = 120;
    let stack = faulty_stack();
    let run = unique("load");
    stack.faults().set(Fault::Flaky {
        seed: 0x5eed,
        fail_percent: 20,
        lose_answer_percent: 10,
    });
    let retries = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for client in 0..3 {
            let (stack, run, retries) = (&stack, &run, &retries);
            scope.spawn(move || {
                for n in (client..EVENTS).step_by(3) {
                    let mut event =
                        json!({"event_type": "load.test", "resource_id": run, "payload": {"n": n}});
                    if n % 2 == 0 {
                        event["event_id"] = format!("{run}-{n}").into();
                    }
                    let body = event.to_string();
                    let answers = until_accepted(12, || ingest_signed(stack, &body));
                    let last = answers.last().unwrap();
                    assert!(
                        last.status == 201 || last.json()["duplicate"] == true,
                        "event {n}: {} {}",
                        last.status,
                        String::from_utf8_lossy(&last.body)
                    );
                    for earlier in &answers[..answers.len() - 1] {
                        assert_eq!(earlier.status, 503, "event {n}: only 503s are retried");
                    }
                    retries.fetch_add(answers.len() - 1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(audit_rows(&stack, &run), EVENTS.to_string());
    let distinct = stack.sql(&format!(
        "select count(distinct payload->>'n') from audit_event where resource_id = '{run}'"
    ));
    assert_eq!(distinct, EVENTS.to_string());
    assert!(
        retries.into_inner() > 0,
        "the fault mix must have made clients retry"
    );
}

/// 40 outbox rows drained by two concurrent drains per round while Odoo fails 30% of calls
/// and applies-then-drops another 10%: every row ends `applied` and Odoo applied each key
/// exactly once. Bounded: at most 40 rounds.
#[test]
fn load_drain_with_odoo_faults_applies_every_row_exactly_once() {
    const ROWS: usize = 40;
    let stack = Stack::builder()
        .variable("OUTBOX_MAX_ATTEMPTS", "40")
        .variable("OUTBOX_DRAIN_LIMIT", "15")
        .start();
    stack.odoo.set_mode(OdooMode::Flaky {
        seed: 0xd1a1,
        fail_percent: 30,
        lose_answer_percent: 10,
    });
    let ids: Vec<i64> = (0..ROWS).map(|_| account_move(&stack).0).collect();
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let auth = bearer(&stack);
    let mut rounds = 0;
    loop {
        let pending = stack.sql(&format!(
            "select count(*) from odoo_action_outbox where id in ({list}) and status <> 'applied'"
        ));
        if pending == "0" || rounds == 40 {
            break;
        }
        rounds += 1;
        // Backoff standing in for time passing: every queued row is due now.
        stack.sql(&format!(
            "update odoo_action_outbox set next_attempt_at = now() - interval '1 second' where id in ({list}) and status = 'queued'"
        ));
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    let answer = post(&stack, DRAIN, &[("authorization", &auth)], b"");
                    assert_eq!(
                        answer.status,
                        200,
                        "{}",
                        String::from_utf8_lossy(&answer.body)
                    );
                });
            }
        });
    }
    let states = stack.sql(&format!(
        "select status || ':' || count(*) from odoo_action_outbox where id in ({list}) group by status"
    ));
    assert_eq!(states, format!("applied:{ROWS}"), "after {rounds} rounds");
    let keys: Vec<String> = ids.iter().map(|id| idempotency_key(&stack, *id)).collect();
    let effects = stack.odoo.effects();
    for key in &keys {
        assert_eq!(effects.iter().filter(|k| *k == key).count(), 1, "{key}");
    }
    assert_eq!(effects.len(), ROWS);
    let calls = stack.odoo.calls();
    let (failed, lost) = (
        calls.iter().filter(|c| c.status == 503).count(),
        calls.iter().filter(|c| c.status == 0).count(),
    );
    assert!(
        failed > 0 && lost > 0,
        "the fault mix must have failed and lost calls ({failed} failed, {lost} lost of {})",
        calls.len()
    );
}
