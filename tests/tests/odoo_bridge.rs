#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Odoo <-> Supabase bridge as a whole: what needs `odoo_event_ingest` and `push_to_odoo`
//! on one stack. Each function's own suite is odoo_event_ingest.rs and push_to_odoo.rs.
//!
//! The test here sets a variable and fails Odoo, so it starts a stack of its own.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use pulser_tests::bridge::{DRAIN, INGEST, PUSH, account_move, event, ingest_signed, push_webhook};
use pulser_tests::e2e::{JSON, assert_logs_clean, post, unique};
use pulser_tests::stack::{OdooMode, Stack};

#[test]
fn secrets_never_reach_the_logs() {
    let stack = Stack::builder()
        .variable("REALTIME_CHANNEL", "odoo-events")
        .start();
    // Successes, a failed Realtime broadcast (the local SUPABASE_URL has no Realtime),
    // refusals of every kind, and Odoo failures.
    assert_eq!(
        ingest_signed(&stack, &event(&unique("log")).to_string()).status,
        201
    );
    ingest_signed(&stack, r#"{"event_type":"#);
    post(&stack, INGEST, &[JSON, ("x-signature", "00")], b"{}");
    let (id, _) = account_move(&stack);
    stack.odoo.set_mode(OdooMode::Fail(401));
    push_webhook(&stack, id);
    let (id, _) = account_move(&stack);
    stack.odoo.set_mode(OdooMode::Fail(500));
    push_webhook(&stack, id);
    post(
        &stack,
        PUSH,
        &[JSON, ("authorization", "Bearer wrong")],
        b"{}",
    );
    post(&stack, DRAIN, &[("authorization", "Basic x")], b"");
    let logs = stack.logs();
    assert!(logs.contains("realtime broadcast failed"), "{logs}");
    assert!(logs.contains("push_to_odoo refused a request"), "{logs}");
    assert_logs_clean(&stack);
}
