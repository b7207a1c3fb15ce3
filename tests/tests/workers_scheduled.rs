#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! push_to_odoo's Cron Trigger on real workerd: the Workers build (dist/workers/push_to_odoo)
//! with its `scheduled` event fired as Cloudflare fires it for `[env.push_to_odoo.triggers]
//! crons`, against real PostgreSQL + PostgREST and the strict Odoo stand-in. Each test drains
//! the outbox, so each starts a stack of its own.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use std::path::PathBuf;

use pulser_tests::bridge::{DRAIN, account_move, idempotency_key};
use pulser_tests::e2e::{assert_no_secret, send};
use pulser_tests::stack::{Stack, project_root};
use pulser_tests::workerd::{self, Scheduler};
use pulser_tests::{Service, required_path};

/// The schedule wrangler.toml sets (any expression fires the same handler).
const CRON: &str = "* * * * *";

/// push_to_odoo's Worker with the stack's variables except `PUSH_WEBHOOK_TOKEN`: a scheduled
/// drain has no caller, so it must not need the token the HTTP drain authenticates with.
fn worker_without_bearer(stack: &Stack) -> (Service, Scheduler) {
    let dist =
        std::env::var_os("PULSER_DIST").map_or_else(|| project_root().join("dist"), PathBuf::from);
    let bindings: Vec<(String, String)> = stack
        .vars()
        .iter()
        .filter(|(name, _)| name.as_str() != "PUSH_WEBHOOK_TOKEN")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    workerd::serve_with_scheduler(
        &required_path("WORKERD_BIN"),
        &dist.join("workers/push_to_odoo"),
        "push_to_odoo-scheduled",
        &bindings,
    )
}

/// `status|attempts|sent_at is null|applied_at is null|last_error`.
fn outbox_state(stack: &Stack, id: i64) -> String {
    stack.sql(&format!(
        "select status || '|' || attempts || '|' || (sent_at is null) || '|' || (applied_at is null) || '|' || coalesce(last_error, '') from odoo_action_outbox where id = {id}"
    ))
}

/// A queued row, due now whatever the sub-second gap between the database's clock and the
/// Worker's (which reads whole seconds).
fn due_row(stack: &Stack) -> (i64, String) {
    let row = account_move(stack);
    stack.sql(&format!(
        "update odoo_action_outbox set next_attempt_at = now() - interval '1 second' where id = {}",
        row.0
    ));
    row
}

fn odoo_calls(stack: &Stack, correlation_id: &str) -> usize {
    stack
        .odoo
        .calls()
        .iter()
        .filter(|c| c.header("x-correlation-id") == Some(correlation_id))
        .count()
}

#[test]
fn a_cron_trigger_drains_a_queued_row_once_without_a_bearer() {
    let stack = Stack::builder().without_runtime().start();
    let (worker, scheduler) = worker_without_bearer(&stack);
    let (id, correlation) = due_row(&stack);

    let verdict = scheduler.fire(CRON);
    assert_eq!(verdict["outcome"], "ok", "{verdict}\n{}", worker.logs());
    assert_eq!(
        outbox_state(&stack, id),
        "applied|1|false|false|",
        "{}",
        worker.logs()
    );
    let key = idempotency_key(&stack, id);
    assert_eq!(stack.odoo.effects(), [key], "applied once in Odoo");
    assert_eq!(odoo_calls(&stack, &correlation), 1);
    let logs = worker.logs();
    assert!(logs.contains("outbox row handled"), "{logs}");

    // The next run finds nothing due: the row is not sent again.
    assert_eq!(scheduler.fire(CRON)["outcome"], "ok");
    assert_eq!(odoo_calls(&stack, &correlation), 1);
    assert_eq!(stack.odoo.effects().len(), 1);

    // The same Worker's HTTP drain cannot run at all: it needs the token it was not given.
    let refused = send(&stack, "POST", &worker.url(DRAIN), &[], b"").json();
    assert_eq!(
        (refused["error"].as_str(), refused["name"].as_str()),
        (Some("missing_config"), Some("PUSH_WEBHOOK_TOKEN")),
        "{refused}"
    );
    assert_no_secret(&stack, "workerd's log", &worker.logs());
}

/// A run that cannot reach the database changes nothing, and says so in the log line a
/// refused drain request gets; the runtime still counts the event as handled.
#[test]
fn a_cron_drain_without_the_database_logs_why_and_leaves_the_row() {
    let mut stack = Stack::builder().without_runtime().start();
    let (worker, scheduler) = worker_without_bearer(&stack);
    let (id, correlation) = due_row(&stack);
    stack.stop_postgrest();

    assert_eq!(scheduler.fire(CRON)["outcome"], "ok");
    let logs = worker.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("push_to_odoo's scheduled drain failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{logs}"));
    assert!(line.contains(r#""error":"store_unavailable""#), "{line}");
    assert!(line.contains(r#""level":"warn""#), "{line}");
    assert_eq!(outbox_state(&stack, id), "queued|0|true|true|");
    assert_eq!(odoo_calls(&stack, &correlation), 0);
    assert_no_secret(&stack, "workerd's log", &logs);
}
