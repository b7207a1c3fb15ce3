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

use pulser_tests::bridge::{
    DRAIN, INGEST, PUSH, account_move, event, ingest_signed, outbox_row, push_webhook,
};
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

/// Seed 002's audit trail: one query by correlation id follows a flow Odoo -> Supabase ->
/// Odoo: the event Odoo sent, and the action pushed back to Odoo under the same id.
#[test]
fn one_correlation_id_follows_odoo_to_supabase_and_back() {
    let stack = pulser_tests::stack::shared();
    let h = pulser_tests::stack::random_hex(16);
    let correlation = format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let mut sent = event(&unique("audit"));
    sent["correlation_id"] = correlation.clone().into();
    assert_eq!(ingest_signed(&stack, &sent.to_string()).status, 201);
    let (id, _) = outbox_row(&stack, "account.move.post", &serde_json::json!({"id": 7}));
    stack.sql(&format!(
        "update odoo_action_outbox set correlation_id = '{correlation}' where id = {id}"
    ));
    assert_eq!(push_webhook(&stack, id).status, 200);
    assert_eq!(
        stack.sql(&format!(
            "select string_agg(source || ':' || event_type, ',' order by id) \
             from audit_event where correlation_id = '{correlation}'"
        )),
        "odoo:account.move.posted,push_to_odoo:odoo_action.applied"
    );
    // Written once, however often the row's status is written again.
    stack.sql(&format!(
        "update odoo_action_outbox set status = 'applied' where id = {id}"
    ));
    assert_eq!(
        stack.sql(&format!(
            "select count(*) from audit_event where correlation_id = '{correlation}'"
        )),
        "2"
    );
}
