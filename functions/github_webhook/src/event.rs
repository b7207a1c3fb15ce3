//! Deliveries parsed into private wire structs (only the fields used, borrowed from the body
//! where possible), then normalized into the one `oasis_events` row a delivery becomes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::status::{self, Status};
use crate::vtid;

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    full_name: Text<'a>,
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

/// What every event carries.
#[derive(Deserialize)]
struct Common<'a> {
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(borrow)]
    repository: Option<Named<'a>>,
    #[serde(borrow)]
    sender: Option<User<'a>>,
}

#[derive(Deserialize)]
struct WorkflowRunEvent<'a> {
    #[serde(borrow)]
    workflow_run: WorkflowRun<'a>,
    /// The workflow definition; its name stands in when the run's is empty.
    #[serde(borrow)]
    workflow: Option<Workflow<'a>>,
}

#[derive(Deserialize)]
struct Workflow<'a> {
    #[serde(borrow)]
    name: Text<'a>,
}

#[derive(Deserialize)]
struct WorkflowRun<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    run_number: Option<u64>,
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

#[derive(Deserialize)]
struct CheckRunEvent<'a> {
    #[serde(borrow)]
    check_run: CheckRun<'a>,
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
struct PullRequestEvent<'a> {
    number: Option<u64>,
    #[serde(borrow)]
    pull_request: PullRequest<'a>,
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

#[derive(Deserialize)]
struct PushEvent<'a> {
    #[serde(borrow, rename = "ref")]
    git_ref: Text<'a>,
    #[serde(borrow)]
    after: Text<'a>,
    #[serde(borrow)]
    compare: Text<'a>,
    #[serde(borrow)]
    head_commit: Option<Commit<'a>>,
    #[serde(borrow, default)]
    commits: Vec<Commit<'a>>,
}

#[derive(Deserialize)]
struct PingEvent<'a> {
    #[serde(borrow)]
    zen: Text<'a>,
    hook_id: Option<u64>,
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

/// The body does not have the shape its event promises; carries serde's message (a path and
/// position, never content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the payload does not match its event: {}", self.0)
    }
}

/// The `zen` of a ping delivery.
///
/// # Errors
/// [`Malformed`] when the body is not a ping object.
pub fn ping_zen(body: &[u8]) -> Result<String, Malformed> {
    let ping: PingEvent<'_> = serde_json::from_slice(body).map_err(|e| Malformed(e.to_string()))?;
    let _ = ping.hook_id;
    Ok(ping.zen.map(Cow::into_owned).unwrap_or_default())
}

fn text(value: Option<&Cow<'_, str>>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.as_ref().to_owned()))
}

fn branch_of(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// Normalizes a stored event's body into its `oasis_events` row (a JSON object ready for
/// PostgREST).
///
/// # Errors
/// [`Malformed`] when the body lacks the event's object.
pub fn normalize(kind: Kind, body: &[u8], delivery_id: &str) -> Result<Value, Malformed> {
    let parse_err = |e: serde_json::Error| Malformed(e.to_string());
    let common: Common<'_> = serde_json::from_slice(body).map_err(parse_err)?;
    let mut meta = Map::new();
    meta.insert("delivery_id".into(), delivery_id.into());
    meta.insert(
        "repository".into(),
        text(
            common
                .repository
                .as_ref()
                .and_then(|r| r.full_name.as_ref()),
        ),
    );
    meta.insert(
        "sender".into(),
        text(common.sender.as_ref().and_then(|s| s.login.as_ref())),
    );
    let action = common.action.as_deref().unwrap_or_default();
    if !action.is_empty() {
        meta.insert("action".into(), action.into());
    }

    let (found, state, verb, git_ref, link) = match kind {
        Kind::WorkflowRun => {
            let event: WorkflowRunEvent<'_> = serde_json::from_slice(body).map_err(parse_err)?;
            let run = event.workflow_run;
            let name = run
                .name
                .as_ref()
                .filter(|n| !n.is_empty())
                .or(event.workflow.as_ref().and_then(|w| w.name.as_ref()));
            meta.insert("workflow".into(), text(name));
            meta.insert("run_number".into(), run.run_number.into());
            meta.insert("head_sha".into(), text(run.head_sha.as_ref()));
            meta.insert("conclusion".into(), text(run.conclusion.as_ref()));
            let found = vtid::first(
                [
                    run.head_branch.as_deref(),
                    run.head_commit.as_ref().and_then(|c| c.message.as_deref()),
                ]
                .into_iter()
                .flatten(),
            )
            .map(owned);
            let state = status::of_run(run.status.as_deref(), run.conclusion.as_deref());
            (
                found,
                state,
                action.to_owned(),
                run.head_branch,
                run.html_url,
            )
        }
        Kind::CheckRun => {
            let event: CheckRunEvent<'_> = serde_json::from_slice(body).map_err(parse_err)?;
            let check = event.check_run;
            let branch = check.check_suite.and_then(|s| s.head_branch);
            meta.insert("check".into(), text(check.name.as_ref()));
            meta.insert("head_sha".into(), text(check.head_sha.as_ref()));
            meta.insert("conclusion".into(), text(check.conclusion.as_ref()));
            let found = branch.as_deref().and_then(vtid::find).map(owned);
            let state = status::of_run(check.status.as_deref(), check.conclusion.as_deref());
            (found, state, action.to_owned(), branch, check.html_url)
        }
        Kind::PullRequest => {
            let event: PullRequestEvent<'_> = serde_json::from_slice(body).map_err(parse_err)?;
            let pr = event.pull_request;
            let merged = pr.merged.unwrap_or(false);
            let (branch, sha) = pr.head.map_or((None, None), |h| (h.branch, h.sha));
            meta.insert("number".into(), event.number.into());
            meta.insert("merged".into(), merged.into());
            meta.insert("head_sha".into(), text(sha.as_ref()));
            let found = vtid::first(
                [pr.title.as_deref(), branch.as_deref()]
                    .into_iter()
                    .flatten(),
            )
            .map(owned);
            let verb = if action == "closed" && merged {
                "merged".to_owned()
            } else {
                action.to_owned()
            };
            (
                found,
                status::of_pull_request(action, merged),
                verb,
                branch,
                pr.html_url,
            )
        }
        Kind::Push => {
            let event: PushEvent<'_> = serde_json::from_slice(body).map_err(parse_err)?;
            let branch = event
                .git_ref
                .as_deref()
                .map(|r| Cow::Owned(branch_of(r).to_owned()));
            meta.insert("head_sha".into(), text(event.after.as_ref()));
            meta.insert("commits".into(), event.commits.len().into());
            let found = vtid::first(
                branch
                    .as_deref()
                    .into_iter()
                    .chain(
                        event
                            .head_commit
                            .as_ref()
                            .and_then(|c| c.message.as_deref()),
                    )
                    .chain(event.commits.iter().filter_map(|c| c.message.as_deref())),
            )
            .map(owned);
            (
                found,
                Status::Success,
                "pushed".to_owned(),
                branch,
                event.compare,
            )
        }
    };
    let (id, layer) = found.unwrap_or_else(|| (vtid::UNSET.to_owned(), vtid::UNSET.to_owned()));
    let title = format!(
        "{layer}-{}-{}",
        kind.module(),
        if verb.is_empty() { "event" } else { &verb }.to_ascii_uppercase()
    );
    Ok(json!({
        "vtid": id,
        "layer": layer,
        "module": kind.module(),
        "source": "github",
        "kind": kind.name(),
        "status": state.as_str(),
        "title": title,
        "ref": text(git_ref.as_ref()),
        "link": text(link.as_ref()),
        "meta": Value::Object(meta),
        "delivery_id": delivery_id,
    }))
}

fn owned(v: vtid::Vtid<'_>) -> (String, String) {
    (v.id.to_owned(), v.layer.to_owned())
}
