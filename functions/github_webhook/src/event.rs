//! Deliveries parsed into private wire structs (only the fields used, borrowed from the body
//! where possible), then normalized into the one `oasis_events` row a delivery becomes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::status::{self, Status};
use crate::vtid;

type Text<'a> = Option<Cow<'a, str>>;

/// A delivery's body, parsed once: the union of the top-level fields that `ping` and the four
/// stored events carry (their types agree across events), every one optional. Everything else
/// in the body, however large, is skipped without being allocated.
#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(borrow)]
    repository: Option<Named<'a>>,
    #[serde(borrow)]
    sender: Option<User<'a>>,
    /// `ping`.
    #[serde(borrow)]
    zen: Text<'a>,
    #[serde(borrow)]
    workflow_run: Option<WorkflowRun<'a>>,
    /// `workflow_run`: the workflow definition; its name stands in when the run's is empty.
    #[serde(borrow)]
    workflow: Option<Named<'a>>,
    #[serde(borrow)]
    check_run: Option<CheckRun<'a>>,
    /// `pull_request`.
    number: Option<u64>,
    #[serde(borrow)]
    pull_request: Option<PullRequest<'a>>,
    /// `push`: `refs/heads/<branch>` or `refs/tags/<tag>`.
    #[serde(borrow, rename = "ref")]
    git_ref: Text<'a>,
    #[serde(borrow)]
    after: Text<'a>,
    #[serde(borrow)]
    compare: Text<'a>,
    #[serde(borrow)]
    head_commit: Option<Commit<'a>>,
    #[serde(borrow)]
    commits: Option<Vec<Commit<'a>>>,
}

/// A repository (`full_name`) or a workflow (`name`).
#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    full_name: Text<'a>,
    #[serde(borrow)]
    name: Text<'a>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    login: Text<'a>,
}

#[derive(Deserialize)]
struct Commit<'a> {
    #[serde(borrow)]
    message: Text<'a>,
}

#[derive(Deserialize)]
struct WorkflowRun<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    run_number: Option<u64>,
    /// What triggered the run: `push`, `pull_request`, ...
    #[serde(borrow)]
    event: Text<'a>,
    /// The pull request's title for runs triggered by one (else the commit message or the
    /// workflow's `run-name`).
    #[serde(borrow)]
    display_title: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(borrow)]
    conclusion: Text<'a>,
    #[serde(borrow)]
    head_branch: Text<'a>,
    #[serde(borrow)]
    head_sha: Text<'a>,
    #[serde(borrow)]
    html_url: Text<'a>,
    #[serde(borrow)]
    head_commit: Option<Commit<'a>>,
}

impl WorkflowRun<'_> {
    /// The title of the pull request that triggered the run, if one did.
    fn pull_request_title(&self) -> Option<&str> {
        match self.event.as_deref() {
            Some("pull_request" | "pull_request_target") => self.display_title.as_deref(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct CheckRun<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    status: Text<'a>,
    #[serde(borrow)]
    conclusion: Text<'a>,
    #[serde(borrow)]
    head_sha: Text<'a>,
    #[serde(borrow)]
    html_url: Text<'a>,
    #[serde(borrow)]
    check_suite: Option<CheckSuite<'a>>,
}

#[derive(Deserialize)]
struct CheckSuite<'a> {
    #[serde(borrow)]
    head_branch: Text<'a>,
}

#[derive(Deserialize)]
struct PullRequest<'a> {
    #[serde(borrow)]
    title: Text<'a>,
    #[serde(borrow)]
    html_url: Text<'a>,
    merged: Option<bool>,
    #[serde(borrow)]
    head: Option<Head<'a>>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, rename = "ref")]
    branch: Text<'a>,
    #[serde(borrow)]
    sha: Text<'a>,
}

fn parse(body: &[u8]) -> Result<Delivery<'_>, Malformed> {
    serde_json::from_slice(body).map_err(|e| Malformed::Json(e.to_string()))
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
    /// Not a JSON object of the expected field types; carries serde_json's message (what was
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
    Ok(parse(body)?.zen.map(Cow::into_owned).unwrap_or_default())
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

fn branch_of(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// Normalizes a stored event's body into its `oasis_events` row (a JSON object ready for
/// PostgREST). The body is parsed once; strings are borrowed from it where JSON escapes allow.
///
/// # Errors
/// [`Malformed`] when the body is not a JSON object or lacks the event's own field.
pub fn normalize(kind: Kind, body: &[u8], delivery_id: &str) -> Result<Value, Malformed> {
    let delivery = parse(body)?;
    let mut meta = Map::new();
    meta.insert("delivery_id".into(), delivery_id.into());
    meta.insert(
        "repository".into(),
        text(
            delivery
                .repository
                .as_ref()
                .and_then(|r| r.full_name.as_deref()),
        ),
    );
    meta.insert(
        "sender".into(),
        text(delivery.sender.as_ref().and_then(|s| s.login.as_deref())),
    );
    let action = delivery.action.as_deref().unwrap_or_default();
    if !action.is_empty() {
        meta.insert("action".into(), action.into());
    }

    // Each arm: the VTID candidates in search order, status, title verb, ref, link.
    let (found, state, verb, git_ref, link) = match kind {
        Kind::WorkflowRun => {
            let run = delivery
                .workflow_run
                .as_ref()
                .ok_or(Malformed::MissingField("workflow_run"))?;
            let workflow = run
                .name
                .as_deref()
                .filter(|name| !name.is_empty())
                .or_else(|| delivery.workflow.as_ref().and_then(|w| w.name.as_deref()));
            meta.insert("workflow".into(), text(workflow));
            meta.insert("run_number".into(), run.run_number.into());
            meta.insert("head_sha".into(), text(run.head_sha.as_deref()));
            meta.insert("conclusion".into(), text(run.conclusion.as_deref()));
            let found = vtid::first(
                [
                    run.pull_request_title(),
                    run.head_branch.as_deref(),
                    run.head_commit.as_ref().and_then(|c| c.message.as_deref()),
                ]
                .into_iter()
                .flatten(),
            );
            (
                found,
                status::of_run(run.status.as_deref(), run.conclusion.as_deref()),
                action,
                run.head_branch.as_deref(),
                run.html_url.as_deref(),
            )
        }
        Kind::CheckRun => {
            let check = delivery
                .check_run
                .as_ref()
                .ok_or(Malformed::MissingField("check_run"))?;
            let branch = check
                .check_suite
                .as_ref()
                .and_then(|s| s.head_branch.as_deref());
            meta.insert("check".into(), text(check.name.as_deref()));
            meta.insert("head_sha".into(), text(check.head_sha.as_deref()));
            meta.insert("conclusion".into(), text(check.conclusion.as_deref()));
            (
                branch.and_then(vtid::find),
                status::of_run(check.status.as_deref(), check.conclusion.as_deref()),
                action,
                branch,
                check.html_url.as_deref(),
            )
        }
        Kind::PullRequest => {
            let pr = delivery
                .pull_request
                .as_ref()
                .ok_or(Malformed::MissingField("pull_request"))?;
            let merged = pr.merged.unwrap_or(false);
            let branch = pr.head.as_ref().and_then(|h| h.branch.as_deref());
            meta.insert("number".into(), delivery.number.into());
            meta.insert("merged".into(), merged.into());
            meta.insert(
                "head_sha".into(),
                text(pr.head.as_ref().and_then(|h| h.sha.as_deref())),
            );
            let found = vtid::first([pr.title.as_deref(), branch].into_iter().flatten());
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
                pr.html_url.as_deref(),
            )
        }
        Kind::Push => {
            let branch = delivery
                .git_ref
                .as_deref()
                .map(branch_of)
                .ok_or(Malformed::MissingField("ref"))?;
            let commits = delivery.commits.as_deref().unwrap_or_default();
            meta.insert("head_sha".into(), text(delivery.after.as_deref()));
            meta.insert("commits".into(), commits.len().into());
            let found = vtid::first(
                core::iter::once(branch)
                    .chain(
                        delivery
                            .head_commit
                            .as_ref()
                            .and_then(|c| c.message.as_deref()),
                    )
                    .chain(commits.iter().filter_map(|c| c.message.as_deref())),
            );
            (
                found,
                Status::Success,
                "pushed",
                Some(branch),
                delivery.compare.as_deref(),
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
        "source": "github",
        "kind": kind.name(),
        "status": state.as_str(),
        "title": title,
        "ref": text(git_ref),
        "link": text(link),
        "meta": Value::Object(meta),
        "delivery_id": delivery_id,
    }))
}
