//! The `git_ops_dispatch` rows, one per `request_id`: the seen request ids that make a retry
//! or a replay take effect once, and the audit trail of every dispatch. The decisions only,
//! with `now` passed in; [`crate::store`] carries them out against PostgREST.
//!
//! A row is inserted `dispatching` before anything goes to GitHub, then becomes `dispatched`
//! (204), `failed` (GitHub surely did not dispatch: a retry with the same id may) or
//! `unknown` (the dispatch went out and no answer came back: never sent again, because
//! `repository_dispatch` has no idempotency key of its own).

use pulser_runtime::time::{UnixTime, rfc3339};
use pulser_supabase::Query;
use serde_json::{Map, Value};

use crate::error::GithubError;
use crate::request::Dispatch;

/// The table.
pub(crate) const TABLE: &str = "git_ops_dispatch";
/// The columns read back for a request id already seen.
pub(crate) const SEEN_COLUMNS: &str = "status,event_type,client_payload,correlation_id,updated_at";
/// A row still `dispatching` this long after its last write belongs to a request that died
/// between claiming it and recording GitHub's answer (at most six GitHub calls of 10 s
/// each fit in it): its dispatch may or may not have gone out, so it becomes `unknown`.
/// `updated_at` is the database's clock and `now` the platform's: the lease is long enough
/// for any skew between them to matter little.
pub(crate) const LEASE_SECS: u64 = 120;
/// `last_error` keeps at most this many characters of GitHub's message.
pub(crate) const MAX_ERROR_CHARS: usize = 1000;

/// Where a request id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Claimed; GitHub's answer is not recorded yet.
    Dispatching,
    /// GitHub accepted it (204).
    Dispatched,
    /// GitHub surely did not dispatch it; a retry with the same id claims it again.
    Failed,
    /// It may or may not have been dispatched; it is never sent again.
    Unknown,
}

impl Status {
    /// The column's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Dispatching => "dispatching",
            Self::Dispatched => "dispatched",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Dispatching,
            Self::Dispatched,
            Self::Failed,
            Self::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A JSON object of `fields`, built without serde's value serializer (which `json!` would
/// link for every field type: kilobytes in a component with a size budget).
fn object(fields: Vec<(&str, Value)>) -> Value {
    // Inserted one by one: collecting would link a sort.
    let mut map = Map::new();
    for (name, value) in fields {
        map.insert(name.to_owned(), value);
    }
    Value::Object(map)
}

/// The row a new request id inserts, `dispatching` (the database sets `created_at` and
/// `updated_at`, and `updated_at` again on every write).
pub(crate) fn new_row(dispatch: &Dispatch, correlation_id: &str) -> Value {
    object(vec![
        ("request_id", dispatch.request_id.as_str().into()),
        ("event_type", dispatch.event_type.into()),
        ("correlation_id", correlation_id.into()),
        ("status", Status::Dispatching.as_str().into()),
        ("requested_at", dispatch.signed_at.rfc3339().into()),
        (
            "client_payload",
            Value::Object(dispatch.client_payload.clone()),
        ),
    ])
}

/// The PATCH that claims a `failed` row again for this attempt: the row then describes the
/// attempt under way (its correlation id, payload and signing time).
pub(crate) fn claim_again(dispatch: &Dispatch, correlation_id: &str) -> Value {
    object(vec![
        ("status", Status::Dispatching.as_str().into()),
        ("correlation_id", correlation_id.into()),
        ("requested_at", dispatch.signed_at.rfc3339().into()),
        (
            "client_payload",
            Value::Object(dispatch.client_payload.clone()),
        ),
        ("github_status", Value::Null),
        ("last_error", Value::Null),
    ])
}

/// The PATCH that gives up on an abandoned `dispatching` row.
pub(crate) fn abandoned() -> Value {
    Outcome {
        status: Status::Unknown,
        github_status: None,
        last_error: Some(format!(
            "no outcome was recorded within {LEASE_SECS} s of claiming it; the dispatch may have \
             reached GitHub"
        )),
    }
    .body()
}

fn by_request(request_id: &str) -> Query {
    let mut query = Query::default();
    query.push("request_id", &format!("eq.{request_id}"));
    query
}

/// Reads the row of `request_id`.
pub(crate) fn read(request_id: &str) -> Query {
    let mut query = by_request(request_id);
    query.push("select", SEEN_COLUMNS);
    query
}

/// The row of `request_id` while it is `failed`: only one retry claims it.
pub(crate) fn while_failed(request_id: &str) -> Query {
    let mut query = by_request(request_id);
    query.push("status", "eq.failed");
    query
}

/// The row of `request_id` while it is `dispatching` and untouched for [`LEASE_SECS`].
pub(crate) fn while_abandoned(request_id: &str, now: u64) -> Query {
    let mut query = by_request(request_id);
    query
        .push("status", "eq.dispatching")
        .push("updated_at", &format!("lt.{}", rfc3339(cutoff(now))));
    query
}

/// The row of `request_id` while it describes this attempt (each claim writes its own
/// correlation id), so an outcome is never written onto a later attempt's row. A late
/// outcome does replace the `unknown` its lapsed claim was given ([`abandoned`]): it is what
/// GitHub answered.
pub(crate) fn this_attempt(request_id: &str, correlation_id: &str) -> Query {
    let mut query = by_request(request_id);
    query.push("correlation_id", &format!("eq.{correlation_id}"));
    query
}

fn cutoff(now: u64) -> u64 {
    now.saturating_sub(LEASE_SECS)
}

/// Whether a write's representation holds a row (PostgREST answers `[]` when an insert
/// skipped a duplicate or a PATCH's filter matched nothing).
pub(crate) fn wrote_a_row(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|rows| rows.as_array().map(|rows| !rows.is_empty()))
        .unwrap_or(false)
}

/// A row read back for a request id already seen.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) status: Status,
    pub(crate) event_type: String,
    pub(crate) client_payload: Map<String, Value>,
    pub(crate) correlation_id: String,
    /// `None` when PostgREST's text did not parse (the lease then never expires).
    pub(crate) updated_at: Option<UnixTime>,
}

/// The first row of a read: `Ok(None)` for none.
///
/// # Errors
/// What is wrong with an answer that is not rows of [`SEEN_COLUMNS`].
pub(crate) fn seen(body: &[u8]) -> Result<Option<Seen>, &'static str> {
    let rows: Value = serde_json::from_slice(body).map_err(|_| "the answer is not JSON")?;
    let Some(row) = rows.as_array().ok_or("the answer is not rows")?.first() else {
        return Ok(None);
    };
    let text = |column: &str| row.get(column).and_then(Value::as_str);
    let status = text("status")
        .and_then(Status::parse)
        .ok_or("the row's status is not one this function writes")?;
    let (Some(event_type), Some(correlation_id), Some(Value::Object(client_payload))) = (
        text("event_type"),
        text("correlation_id"),
        row.get("client_payload"),
    ) else {
        return Err("the row lacks event_type, correlation_id or client_payload");
    };
    Ok(Some(Seen {
        status,
        event_type: event_type.to_owned(),
        client_payload: client_payload.clone(),
        correlation_id: correlation_id.to_owned(),
        updated_at: text("updated_at").and_then(UnixTime::parse_rfc3339),
    }))
}

/// What a request whose id was already seen gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This request holds the claim: dispatch it.
    Dispatch,
    /// Dispatched before, under this correlation id: answer that, send nothing.
    Duplicate { correlation_id: String },
    /// Another request holds the claim right now.
    InProgress,
    /// Its dispatch may have reached GitHub: never sent again.
    OutcomeUnknown,
    /// The id was used for another request.
    DifferentRequest,
}

/// What to do about a row already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Answer without writing.
    Answer(Verdict),
    /// Claim the `failed` row for this attempt ([`while_failed`], [`claim_again`]); when the
    /// PATCH matches nothing another retry claimed it first.
    ClaimAgain,
    /// Record the abandoned claim as `unknown` ([`while_abandoned`], [`abandoned`]).
    GiveUp,
}

/// Decides what `dispatch` gets at `now`, given the row its id already has.
pub(crate) fn next(seen: &Seen, dispatch: &Dispatch, now: u64) -> Next {
    if !same_request(seen, dispatch) {
        return Next::Answer(Verdict::DifferentRequest);
    }
    match seen.status {
        Status::Failed => Next::ClaimAgain,
        Status::Dispatched => Next::Answer(Verdict::Duplicate {
            correlation_id: seen.correlation_id.clone(),
        }),
        Status::Unknown => Next::Answer(Verdict::OutcomeUnknown),
        Status::Dispatching if seen.updated_at.is_some_and(|at| at.as_secs() < cutoff(now)) => {
            Next::GiveUp
        }
        Status::Dispatching => Next::Answer(Verdict::InProgress),
    }
}

/// The same request again: event type and payload equal once the parts that differ between
/// attempts of one request are set aside (each attempt's correlation id, and a deploy's
/// signing time, which a retry after the window must renew).
fn same_request(seen: &Seen, dispatch: &Dispatch) -> bool {
    seen.event_type == dispatch.event_type
        && content(&seen.client_payload).eq(content(&dispatch.client_payload))
}

/// A payload without the parts that differ between attempts of one request.
fn content(payload: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    payload
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "correlation_id" | "timestamp"))
}

/// What GitHub's answer makes of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) github_status: Option<u16>,
    pub(crate) last_error: Option<String>,
}

/// The row's outcome for what the GitHub leg returned.
pub(crate) fn outcome(result: &Result<(), GithubError>) -> Outcome {
    let failed = |status: Status, github_status: Option<u16>, message: &str| Outcome {
        status,
        github_status,
        last_error: Some(message.chars().take(MAX_ERROR_CHARS).collect()),
    };
    match result {
        Ok(()) => Outcome {
            status: Status::Dispatched,
            github_status: Some(204),
            last_error: None,
        },
        // Refused, or never sent: GitHub surely did not dispatch it.
        Err(
            GithubError::TokenExchange(status, message) | GithubError::Dispatch(status, message),
        ) => failed(Status::Failed, *status, message),
        Err(GithubError::Jwt(message)) => failed(Status::Failed, None, message),
        Err(GithubError::DispatchUnanswered(message)) => failed(Status::Unknown, None, message),
    }
}

impl Outcome {
    /// The PATCH recording it.
    pub(crate) fn body(&self) -> Value {
        object(vec![
            ("status", self.status.as_str().into()),
            ("github_status", self.github_status.into()),
            ("last_error", self.last_error.clone().into()),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_795_000_000;

    fn dispatch(message: &str, correlation_id: &str) -> Dispatch {
        let body = json!({"request_id": "req-1", "timestamp": NOW, "message": message});
        crate::request::parse(
            &body,
            correlation_id,
            &crate::request::BranchPrefix::default(),
        )
        .unwrap()
    }

    fn row(status: &str, message: &str, updated_at: &str) -> Seen {
        let stored = dispatch(message, "0b0c0d0e-0f10-4112-9314-15161718191a");
        let body = json!([{
            "status": status,
            "event_type": stored.event_type,
            "client_payload": stored.client_payload,
            "correlation_id": "0b0c0d0e-0f10-4112-9314-15161718191a",
            "updated_at": updated_at,
        }]);
        seen(body.to_string().as_bytes()).unwrap().unwrap()
    }

    const RECENT: &str = "2026-11-18T11:06:00.123456+00:00";

    #[test]
    fn a_new_row_is_dispatching_with_the_signed_time() {
        let d = dispatch("m", "c");
        assert_eq!(
            new_row(&d, "c"),
            json!({
                "request_id": "req-1", "event_type": "git-ops", "correlation_id": "c",
                "status": "dispatching", "requested_at": "2026-11-18T11:06:40Z",
                "client_payload": {"branch": "gitops/push", "message": "m", "correlation_id": "c",
                    "triggered_by": "odoo", "request_id": "req-1"},
            })
        );
    }

    #[test]
    fn each_status_decides_what_a_repeat_gets() {
        let again = dispatch("m", "ffffffff-0f10-4112-9314-15161718191a");
        assert_eq!(
            next(&row("failed", "m", RECENT), &again, NOW),
            Next::ClaimAgain
        );
        assert_eq!(
            next(&row("dispatched", "m", RECENT), &again, NOW),
            Next::Answer(Verdict::Duplicate {
                correlation_id: "0b0c0d0e-0f10-4112-9314-15161718191a".into()
            })
        );
        assert_eq!(
            next(&row("unknown", "m", RECENT), &again, NOW),
            Next::Answer(Verdict::OutcomeUnknown)
        );
        assert_eq!(
            next(&row("dispatching", "m", RECENT), &again, NOW),
            Next::Answer(Verdict::InProgress)
        );
    }

    #[test]
    fn a_claim_untouched_past_the_lease_is_given_up() {
        let again = dispatch("m", "c");
        let at_lease = row("dispatching", "m", &rfc3339(NOW - LEASE_SECS));
        assert_eq!(
            next(&at_lease, &again, NOW),
            Next::Answer(Verdict::InProgress)
        );
        let past = row("dispatching", "m", &rfc3339(NOW - LEASE_SECS - 1));
        assert_eq!(next(&past, &again, NOW), Next::GiveUp);
        let unreadable = row("dispatching", "m", "yesterday");
        assert_eq!(
            next(&unreadable, &again, NOW),
            Next::Answer(Verdict::InProgress)
        );
        assert_eq!(
            while_abandoned("req-1", NOW).finish(),
            "?request_id=eq.req-1&status=eq.dispatching&updated_at=lt.2026-11-18T11%3A04%3A40Z"
        );
    }

    #[test]
    fn another_payload_under_the_same_id_is_a_different_request() {
        let other = dispatch("another message", "c");
        for status in ["failed", "dispatched", "unknown", "dispatching"] {
            assert_eq!(
                next(&row(status, "m", RECENT), &other, NOW),
                Next::Answer(Verdict::DifferentRequest),
                "{status}"
            );
        }
    }

    #[test]
    fn a_deploy_signed_again_is_the_same_request() {
        let deploy = |timestamp: u64| {
            let body = json!({"request_id": "d-1", "timestamp": timestamp,
                "event_type": "deploy_pulse_hub", "environment": "staging", "image_tag": "v1",
                "service": "web"});
            crate::request::parse(&body, "c", &crate::request::BranchPrefix::default()).unwrap()
        };
        let first = deploy(NOW - 600);
        let stored = Seen {
            status: Status::Failed,
            event_type: first.event_type.into(),
            client_payload: first.client_payload.clone(),
            correlation_id: "c".into(),
            updated_at: None,
        };
        assert_eq!(next(&stored, &deploy(NOW), NOW), Next::ClaimAgain);
    }

    #[test]
    fn rows_that_are_not_ours_are_errors() {
        assert_eq!(seen(b"[]"), Ok(None));
        assert!(seen(b"{}").is_err());
        assert!(seen(b"nope").is_err());
        assert!(seen(br#"[{"status":"queued"}]"#).is_err());
        assert!(seen(br#"[{"status":"failed","event_type":"git-ops"}]"#).is_err());
    }

    #[test]
    fn githubs_answer_decides_the_outcome() {
        assert_eq!(outcome(&Ok(())).status, Status::Dispatched);
        assert_eq!(outcome(&Ok(())).github_status, Some(204));
        let refused = outcome(&Err(GithubError::Dispatch(Some(422), "x".repeat(5000))));
        assert_eq!(
            (refused.status, refused.github_status),
            (Status::Failed, Some(422))
        );
        assert_eq!(refused.last_error.unwrap().len(), MAX_ERROR_CHARS);
        for never_sent in [
            GithubError::TokenExchange(None, "down".into()),
            GithubError::TokenExchange(Some(401), "no".into()),
            GithubError::Dispatch(None, "destination not allowed".into()),
            GithubError::Jwt("bad key".into()),
        ] {
            assert_eq!(outcome(&Err(never_sent)).status, Status::Failed);
        }
        let unanswered = outcome(&Err(GithubError::DispatchUnanswered("timed out".into())));
        assert_eq!(
            unanswered,
            Outcome {
                status: Status::Unknown,
                github_status: None,
                last_error: Some("timed out".into())
            }
        );
    }

    #[test]
    fn writes_that_stored_nothing_answer_no_rows() {
        assert!(wrote_a_row(br#"[{"request_id":"r"}]"#));
        assert!(!wrote_a_row(b"[]"));
        assert!(!wrote_a_row(b"junk"));
    }
}
