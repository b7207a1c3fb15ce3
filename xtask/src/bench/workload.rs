//! What the load runs send: per endpoint, a pool of signed requests, each unique where the
//! endpoint deduplicates (so every one is stored), or one forged request sent over and over.
//!
//! The peers get the very same pools (same bytes, same headers), so a ratio compares the
//! same work.

use std::path::Path;

use pulser_tests::stack::Stack;

use super::load::{self, Pool};
use crate::Result;

/// The endpoints the load runs drive, by function.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::Ingest,
    Endpoint::Github,
    Endpoint::Push,
    Endpoint::GitOps,
];

/// One endpoint of spin.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `odoo_event_ingest`: a 1 KB Odoo event, stored in `audit_event`.
    Ingest,
    /// `github_webhook`: the 7 KB push delivery fixture, stored in `oasis_events`.
    Github,
    /// `push_to_odoo`: a direct call, stored in the outbox and pushed to the Odoo stand-in.
    Push,
    /// `git_ops_dispatch`: a git-ops request, dispatched to the GitHub stand-in.
    GitOps,
}

impl Endpoint {
    /// Its function (dist file stem).
    pub const fn function(self) -> &'static str {
        match self {
            Self::Ingest => "odoo_event_ingest",
            Self::Github => "github_webhook",
            Self::Push => "push_to_odoo",
            Self::GitOps => "git_ops_dispatch",
        }
    }

    /// The path requests go to (spin.toml's route).
    pub const fn path(self) -> &'static str {
        match self {
            Self::Ingest => "/odoo_event_ingest",
            Self::Github => "/webhooks/github",
            Self::Push => "/push_to_odoo",
            Self::GitOps => "/pulser/git-ops",
        }
    }
}

fn first_secret(list: &str) -> String {
    list.split(',').next().unwrap_or_default().trim().to_owned()
}

/// The 7 KB push delivery every GitHub run sends (the octokit fixture our tests use).
fn push_fixture(root: &Path) -> Result<serde_json::Value> {
    let path = root.join("functions/github_webhook/tests/fixtures/github/push.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A 1 KB Odoo event with id `id`.
fn ingest_body(id: &str) -> String {
    let lines: Vec<String> = (0..12)
        .map(|n| format!(r#"{{"product":"SKU-{n:04}","quantity":{n},"price":"19.90"}}"#))
        .collect();
    format!(
        r#"{{"event_type":"invoice.posted","resource_id":42,"event_id":"{id}","payload":{{"amount":238.80,"currency":"EUR","lines":[{}]}}}}"#,
        lines.join(",")
    )
}

/// `count` requests for `endpoint`, each unique (and so stored once), signed with the stack's
/// secrets; `run` tells runs apart, since a database outlives one run.
///
/// # Errors
/// When the GitHub fixture cannot be read.
pub fn unique(
    root: &Path,
    stack: &Stack,
    endpoint: Endpoint,
    host: &str,
    run: &str,
    count: usize,
) -> Result<Pool> {
    let push = push_fixture(root)?;
    let now = pulser_tests::clock::unix_now();
    let mut requests = Vec::with_capacity(count);
    for n in 0..count {
        let id = format!("bench-{run}-{n}");
        requests.push(signed(stack, endpoint, host, &id, now, &push));
    }
    Ok(Pool::once(requests))
}

/// One request for `endpoint` whose signature is wrong, sent over and over: what an attacker
/// without the secret can make the endpoint spend.
///
/// # Errors
/// When the GitHub fixture cannot be read.
pub fn forged(root: &Path, stack: &Stack, endpoint: Endpoint, host: &str) -> Result<Pool> {
    let push = push_fixture(root)?;
    let now = pulser_tests::clock::unix_now();
    let mut request = signed(stack, endpoint, host, "bench-forged", now, &push);
    // The same length, the right shape, a wrong digest: every byte of the body is still read
    // and MACed before the refusal.
    let text = String::from_utf8_lossy(&request).into_owned();
    let forged = text
        .lines()
        .map(|line| {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("x-signature:")
                || lower.starts_with("x-hub-signature-256:")
                || lower.starts_with("x-pulser-signature:")
            {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let zeros: String = value
                    .trim()
                    .chars()
                    .map(|c| if c.is_ascii_hexdigit() { '0' } else { c })
                    .collect();
                format!("{name}: {zeros}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    request = forged.into_bytes();
    Ok(Pool::cycling(vec![request]))
}

fn signed(
    stack: &Stack,
    endpoint: Endpoint,
    host: &str,
    id: &str,
    now: i64,
    push: &serde_json::Value,
) -> Vec<u8> {
    let hmac = |var: &str, body: &str| {
        pulser_tests::hmac_hex(first_secret(&stack.var(var)).as_bytes(), body.as_bytes())
    };
    let json = ("content-type", "application/json");
    // Ingest and push_to_odoo's direct calls: Odoo's hex `x-signature` over the body.
    let odoo_signed = |body: String| {
        let signature = hmac("EDGE_HMAC_SECRET", &body);
        load::post(
            host,
            endpoint.path(),
            &[json, ("x-signature", &signature)],
            body.as_bytes(),
        )
    };
    match endpoint {
        Endpoint::Ingest => odoo_signed(ingest_body(id)),
        Endpoint::Push => odoo_signed(format!(
            r#"{{"action":"account.move.post","args":{{"id":42}},"request_id":"{id}"}}"#
        )),
        Endpoint::GitOps => {
            let body = format!(
                r#"{{"branch":"gitops/bench","message":"bench","request_id":"{id}","timestamp":{now}}}"#
            );
            let signature = format!("sha256={}", hmac("PULSER_WEBHOOK_SECRET", &body));
            load::post(
                host,
                endpoint.path(),
                &[json, ("x-pulser-signature", &signature)],
                body.as_bytes(),
            )
        }
        Endpoint::Github => {
            // A different head commit per delivery: GitHub's own deliveries differ, and ours
            // deduplicates on the body's digest.
            let mut delivery = push.clone();
            if let Some(object) = delivery.as_object_mut() {
                object.insert("after".into(), id.into());
            }
            let body = delivery.to_string();
            let signature = format!("sha256={}", hmac("GITHUB_WEBHOOK_SECRET", &body));
            load::post(
                host,
                endpoint.path(),
                &[
                    json,
                    ("x-github-event", "push"),
                    ("x-github-delivery", id),
                    ("x-hub-signature-256", &signature),
                ],
                body.as_bytes(),
            )
        }
    }
}
