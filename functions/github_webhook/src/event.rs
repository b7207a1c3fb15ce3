//! Deliveries read once by the validating picker ([`crate::json`]) into slots (only the
//! fields used, borrowed from the body where possible), then normalized into the one
//! `oasis_events` row a delivery becomes.

use serde_json::{Map, Value, json};

use crate::json::{self, Expect, Field, Values};
use crate::status::{self, Status};
use crate::vtid;

/// Where each value of interest lands (see [`SCHEMA`]).
mod slot {
    pub(super) const ACTION: u8 = 0;
    pub(super) const REPOSITORY_FULL_NAME: u8 = 1;
    pub(super) const SENDER_LOGIN: u8 = 2;
    pub(super) const ZEN: u8 = 3;
    pub(super) const WORKFLOW_RUN: u8 = 4;
    pub(super) const RUN_NAME: u8 = 5;
    pub(super) const RUN_NUMBER: u8 = 6;
    pub(super) const RUN_EVENT: u8 = 7;
    pub(super) const RUN_DISPLAY_TITLE: u8 = 8;
    pub(super) const RUN_STATUS: u8 = 9;
    pub(super) const RUN_CONCLUSION: u8 = 10;
    pub(super) const RUN_HEAD_BRANCH: u8 = 11;
    pub(super) const RUN_HEAD_SHA: u8 = 12;
    pub(super) const RUN_HTML_URL: u8 = 13;
    pub(super) const RUN_HEAD_COMMIT_MESSAGE: u8 = 14;
    pub(super) const WORKFLOW_NAME: u8 = 15;
    pub(super) const CHECK_RUN: u8 = 16;
    pub(super) const CHECK_NAME: u8 = 17;
    pub(super) const CHECK_STATUS: u8 = 18;
    pub(super) const CHECK_CONCLUSION: u8 = 19;
    pub(super) const CHECK_HEAD_SHA: u8 = 20;
    pub(super) const CHECK_HTML_URL: u8 = 21;
    pub(super) const CHECK_SUITE_HEAD_BRANCH: u8 = 22;
    pub(super) const NUMBER: u8 = 23;
    pub(super) const PULL_REQUEST: u8 = 24;
    pub(super) const PR_TITLE: u8 = 25;
    pub(super) const PR_HTML_URL: u8 = 26;
    pub(super) const PR_MERGED: u8 = 27;
    pub(super) const PR_HEAD_REF: u8 = 28;
    pub(super) const PR_HEAD_SHA: u8 = 29;
    pub(super) const REF: u8 = 30;
    pub(super) const AFTER: u8 = 31;
    pub(super) const COMPARE: u8 = 32;
    pub(super) const HEAD_COMMIT_MESSAGE: u8 = 33;
    pub(super) const COMMITS: u8 = 34;
    /// The first pushed commit's message that names a VTID.
    pub(super) const COMMIT_MESSAGE: u8 = 35;
    /// Intermediate objects nobody asks about.
    pub(super) const CONTAINER: u8 = 255;
}

const fn text(name: &'static str, slot: u8) -> Field {
    Field {
        name,
        slot,
        expect: Expect::Text,
    }
}

const fn object(name: &'static str, slot: u8, fields: &'static [Field]) -> Field {
    Field {
        name,
        slot,
        expect: Expect::Object(fields),
    }
}

/// The fields of a delivery's body that `ping` and the four stored events use (their types
/// agree across events), every one optional. Everything else is skipped.
const SCHEMA: &[Field] = &[
    text("action", slot::ACTION),
    object(
        "repository",
        slot::CONTAINER,
        &[text("full_name", slot::REPOSITORY_FULL_NAME)],
    ),
    object(
        "sender",
        slot::CONTAINER,
        &[text("login", slot::SENDER_LOGIN)],
    ),
    // ping
    text("zen", slot::ZEN),
    object(
        "workflow_run",
        slot::WORKFLOW_RUN,
        &[
            text("name", slot::RUN_NAME),
            Field {
                name: "run_number",
                slot: slot::RUN_NUMBER,
                expect: Expect::Uint,
            },
            // What triggered the run: `push`, `pull_request`, ...
            text("event", slot::RUN_EVENT),
            // The pull request's title for runs a pull request triggered (else the commit
            // message or the workflow's `run-name`).
            text("display_title", slot::RUN_DISPLAY_TITLE),
            text("status", slot::RUN_STATUS),
            text("conclusion", slot::RUN_CONCLUSION),
            text("head_branch", slot::RUN_HEAD_BRANCH),
            text("head_sha", slot::RUN_HEAD_SHA),
            text("html_url", slot::RUN_HTML_URL),
            object(
                "head_commit",
                slot::CONTAINER,
                &[text("message", slot::RUN_HEAD_COMMIT_MESSAGE)],
            ),
        ],
    ),
    // workflow_run: the workflow definition; its name stands in when the run's is empty.
    object(
        "workflow",
        slot::CONTAINER,
        &[text("name", slot::WORKFLOW_NAME)],
    ),
    object(
        "check_run",
        slot::CHECK_RUN,
        &[
            text("name", slot::CHECK_NAME),
            text("status", slot::CHECK_STATUS),
            text("conclusion", slot::CHECK_CONCLUSION),
            text("head_sha", slot::CHECK_HEAD_SHA),
            text("html_url", slot::CHECK_HTML_URL),
            object(
                "check_suite",
                slot::CONTAINER,
                &[text("head_branch", slot::CHECK_SUITE_HEAD_BRANCH)],
            ),
        ],
    ),
    // pull_request
    Field {
        name: "number",
        slot: slot::NUMBER,
        expect: Expect::Uint,
    },
    object(
        "pull_request",
        slot::PULL_REQUEST,
        &[
            text("title", slot::PR_TITLE),
            text("html_url", slot::PR_HTML_URL),
            Field {
                name: "merged",
                slot: slot::PR_MERGED,
                expect: Expect::Bool,
            },
            object(
                "head",
                slot::CONTAINER,
                &[
                    text("ref", slot::PR_HEAD_REF),
                    text("sha", slot::PR_HEAD_SHA),
                ],
            ),
        ],
    ),
    // push: `refs/heads/<branch>` or `refs/tags/<tag>`.
    text("ref", slot::REF),
    text("after", slot::AFTER),
    text("compare", slot::COMPARE),
    object(
        "head_commit",
        slot::CONTAINER,
        &[text("message", slot::HEAD_COMMIT_MESSAGE)],
    ),
    // Counted; of the messages only the first naming a VTID is kept (the row needs no more),
    // so a push of any length costs the same memory beyond its body.
    Field {
        name: "commits",
        slot: slot::COMMITS,
        expect: Expect::Objects(&[Field {
            name: "message",
            slot: slot::COMMIT_MESSAGE,
            expect: Expect::TextIf(names_a_vtid),
        }]),
    },
];

fn names_a_vtid(text: &str) -> bool {
    vtid::find(text).is_some()
}

fn parse(body: &[u8]) -> Result<Values<'_>, Malformed> {
    json::pick(body, SCHEMA).map_err(|e| Malformed::Json(e.to_string()))
}

/// The title of the pull request that triggered a workflow run, if one did.
fn run_pull_request_title<'a>(values: &'a Values<'_>) -> Option<&'a str> {
    match values.text(slot::RUN_EVENT) {
        Some("pull_request" | "pull_request_target") => values.text(slot::RUN_DISPLAY_TITLE),
        _ => None,
    }
}

/// The events this endpoint stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `workflow_run`.
    WorkflowRun,
    /// `check_run`.
    CheckRun,
    /// `pull_request`.
    PullRequest,
    /// `push`.
    Push,
}

impl Kind {
    /// The stored kind for an `X-GitHub-Event` value, `None` for events not stored.
    #[must_use]
    pub fn of(event: &str) -> Option<Self> {
        match event {
            "workflow_run" => Some(Self::WorkflowRun),
            "check_run" => Some(Self::CheckRun),
            "pull_request" => Some(Self::PullRequest),
            "push" => Some(Self::Push),
            _ => None,
        }
    }

    /// The event name (`oasis_events.kind`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::WorkflowRun => "workflow_run",
            Self::CheckRun => "check_run",
            Self::PullRequest => "pull_request",
            Self::Push => "push",
        }
    }

    /// `oasis_events.module`.
    #[must_use]
    pub fn module(self) -> &'static str {
        match self {
            Self::WorkflowRun => "WORKFLOW",
            Self::CheckRun => "CHECK",
            Self::PullRequest => "PR",
            Self::Push => "PUSH",
        }
    }
}

/// The body does not have the shape its event promises.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not a JSON object of the expected field types; carries the picker's message (what was
    /// expected, and where).
    Json(String),
    /// The event's own field is absent (`workflow_run` in a `workflow_run` delivery, ...).
    MissingField(&'static str),
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Json(e) => write!(f, "the payload does not match its event: {e}"),
            Self::MissingField(field) => {
                write!(f, "the payload lacks the field `{field}` its event carries")
            }
        }
    }
}

/// The `zen` of a ping delivery (empty when GitHub sent none).
///
/// # Errors
/// [`Malformed`] when the body is not a JSON object.
pub fn ping_zen(body: &[u8]) -> Result<String, Malformed> {
    Ok(parse(body)?
        .text(slot::ZEN)
        .map(str::to_owned)
        .unwrap_or_default())
}

fn nullable(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

fn branch_of(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// `oasis_events.source` of every row, as seed 003's examples have it.
pub const SOURCE: &str = "github.actions";

/// Normalizes a stored event's body into its `oasis_events` row (a JSON object ready for
/// PostgREST). The body is read once; strings are borrowed from it where JSON escapes allow.
///
/// # Errors
/// [`Malformed`] when the body is not a JSON object or lacks the event's own field.
pub fn normalize(kind: Kind, body: &[u8], delivery_id: &str) -> Result<Value, Malformed> {
    let d = parse(body)?;
    let mut meta = Map::new();
    meta.insert("delivery_id".into(), delivery_id.into());
    meta.insert(
        "repository".into(),
        nullable(d.text(slot::REPOSITORY_FULL_NAME)),
    );
    meta.insert("sender".into(), nullable(d.text(slot::SENDER_LOGIN)));
    let action = d.text(slot::ACTION).unwrap_or_default();
    if !action.is_empty() {
        meta.insert("action".into(), action.into());
    }

    // Each arm: the VTID candidates in search order, status, title verb, ref, link.
    let (found, state, verb, git_ref, link) = match kind {
        Kind::WorkflowRun => {
            if !d.has(slot::WORKFLOW_RUN) {
                return Err(Malformed::MissingField("workflow_run"));
            }
            let workflow = d
                .text(slot::RUN_NAME)
                .filter(|name| !name.is_empty())
                .or_else(|| d.text(slot::WORKFLOW_NAME));
            let head_branch = d.text(slot::RUN_HEAD_BRANCH);
            let conclusion = d.text(slot::RUN_CONCLUSION);
            meta.insert("workflow".into(), nullable(workflow));
            // Seed 003's name for it.
            meta.insert("workflow_name".into(), nullable(workflow));
            meta.insert("run_number".into(), d.uint(slot::RUN_NUMBER).into());
            meta.insert("head_sha".into(), nullable(d.text(slot::RUN_HEAD_SHA)));
            meta.insert("conclusion".into(), nullable(conclusion));
            let found = vtid::first(
                [
                    run_pull_request_title(&d),
                    head_branch,
                    d.text(slot::RUN_HEAD_COMMIT_MESSAGE),
                ]
                .into_iter()
                .flatten(),
            );
            (
                found,
                status::of_run(d.text(slot::RUN_STATUS), conclusion),
                action,
                head_branch,
                d.text(slot::RUN_HTML_URL),
            )
        }
        Kind::CheckRun => {
            if !d.has(slot::CHECK_RUN) {
                return Err(Malformed::MissingField("check_run"));
            }
            let branch = d.text(slot::CHECK_SUITE_HEAD_BRANCH);
            let conclusion = d.text(slot::CHECK_CONCLUSION);
            meta.insert("check".into(), nullable(d.text(slot::CHECK_NAME)));
            meta.insert("head_sha".into(), nullable(d.text(slot::CHECK_HEAD_SHA)));
            meta.insert("conclusion".into(), nullable(conclusion));
            (
                branch.and_then(vtid::find),
                status::of_run(d.text(slot::CHECK_STATUS), conclusion),
                action,
                branch,
                d.text(slot::CHECK_HTML_URL),
            )
        }
        Kind::PullRequest => {
            if !d.has(slot::PULL_REQUEST) {
                return Err(Malformed::MissingField("pull_request"));
            }
            let merged = d.boolean(slot::PR_MERGED).unwrap_or(false);
            let branch = d.text(slot::PR_HEAD_REF);
            meta.insert("number".into(), d.uint(slot::NUMBER).into());
            // Seed 003's names: `pr_number`, `pr_title` (and `action`, `merged`).
            meta.insert("pr_number".into(), d.uint(slot::NUMBER).into());
            meta.insert("pr_title".into(), nullable(d.text(slot::PR_TITLE)));
            meta.insert("merged".into(), merged.into());
            meta.insert("head_sha".into(), nullable(d.text(slot::PR_HEAD_SHA)));
            let found = vtid::first([d.text(slot::PR_TITLE), branch].into_iter().flatten());
            let verb = if action == "closed" && merged {
                "merged"
            } else {
                action
            };
            (
                found,
                status::of_pull_request(action, merged),
                verb,
                branch,
                d.text(slot::PR_HTML_URL),
            )
        }
        Kind::Push => {
            let branch = d
                .text(slot::REF)
                .map(branch_of)
                .ok_or(Malformed::MissingField("ref"))?;
            meta.insert("head_sha".into(), nullable(d.text(slot::AFTER)));
            meta.insert("commits".into(), d.count(slot::COMMITS).into());
            let found = vtid::first(
                core::iter::once(branch)
                    .chain(d.text(slot::HEAD_COMMIT_MESSAGE))
                    .chain(d.text(slot::COMMIT_MESSAGE)),
            );
            (
                found,
                Status::Success,
                "pushed",
                Some(branch),
                d.text(slot::COMPARE),
            )
        }
    };
    let (id, layer) = found.map_or((vtid::UNSET, vtid::UNSET), |v| (v.id, v.layer));
    let title = format!(
        "{layer}-{}-{}",
        kind.module(),
        if verb.is_empty() { "event" } else { verb }.to_ascii_uppercase()
    );
    Ok(json!({
        "vtid": id,
        "layer": layer,
        "module": kind.module(),
        "source": SOURCE,
        "kind": kind.name(),
        "status": state.as_str(),
        "title": title,
        "ref": nullable(git_ref),
        "link": nullable(link),
        "meta": Value::Object(meta),
        "delivery_id": delivery_id,
    }))
}
