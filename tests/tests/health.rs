#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `GET <route>/health` on every function, on the cell's runtime: what a deploy's health check
//! and an operator see. Unauthenticated; names and states of settings, never their values.
//!
//! [`send`] fails any answer that carries a secret of the stack.
//!
//! Needs `cargo xtask build` (dist/) and the tools `cargo xtask test` points at.

use pulser_tests::cell::Cell;
use pulser_tests::e2e::{JSON, post, send};
use pulser_tests::stack;

/// Every function's route on the shared host.
const ROUTES: [(&str, &str); 5] = [
    ("odoo_event_ingest", "/odoo_event_ingest"),
    ("push_to_odoo", "/push_to_odoo"),
    ("github_webhook", "/webhooks/github"),
    ("git_ops_dispatch", "/pulser/git-ops"),
    ("oasis_events", "/api/v1/oasis"),
];

/// The flavour each cell runs.
fn flavour(cell: Cell) -> &'static str {
    match cell {
        Cell::EdgeWasi | Cell::WasmtimeServe => "wasi",
        Cell::EdgeSpin => "spin",
        Cell::Workerd => "workers",
    }
}

#[test]
fn every_function_says_its_name_version_flavour_and_settings() {
    let stack = stack::shared();
    for (name, route) in ROUTES {
        let answer = send(
            &stack,
            "GET",
            &stack.url(&format!("{route}/health")),
            &[],
            b"",
        );
        assert_eq!(
            answer.status,
            200,
            "{route}/health: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.json();
        assert_eq!(body["name"], name, "{body}");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
        assert_eq!(body["flavour"], flavour(Cell::current()), "{body}");
        assert_eq!(body["ready"], true, "{body}");
        let settings = body["settings"].as_object().expect("settings");
        assert!(!settings.is_empty(), "{body}");
        for (setting, state) in settings {
            assert!(
                ["set", "default", "not needed"].contains(&state.as_str().unwrap_or("")),
                "{name}: {setting} is {state} on a configured stack"
            );
        }
    }
}

#[test]
fn push_to_odoo_adds_whether_its_destination_is_paused() {
    let stack = stack::shared();
    let answer = send(&stack, "GET", &stack.url("/push_to_odoo/health"), &[], b"");
    assert_eq!(
        answer.json()["destination"]["paused"],
        false,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

#[test]
fn other_paths_below_a_single_route_function_are_404() {
    let stack = stack::shared();
    for (_, route) in ROUTES {
        if route == "/push_to_odoo" {
            continue;
        }
        let answer = post(&stack, &format!("{route}/other"), &[JSON], b"{}");
        assert_eq!(
            answer.status,
            404,
            "{route}/other: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["error"], "not_found");
    }
}
