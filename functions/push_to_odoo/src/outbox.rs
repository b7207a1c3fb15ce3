//! The `odoo_action_outbox` row lifecycle, as PostgREST requests and pure decisions:
//!
//! ```text
//! queued --claim--> sent --Odoo 2xx--> applied
//!                        --Odoo 4xx, bad action--> error
//!                        --timeout/5xx/connection--> queued (attempts+1, backoff)
//!                                                    or error at OUTBOX_MAX_ATTEMPTS
//! ```
//!
//! A claim is a conditional PATCH (`status=eq.queued`, or "due" for the drain) returning the
//! row, so of two deliveries racing for one row exactly one gets it back; the other gets an
//! empty array and does nothing. Rows left in `sent` (a crash between claim and outcome)
//! become due again once their lease has passed.

use core::fmt;

use serde_json::{Map, Value};

use pulser_runtime::time::rfc3339;
use pulser_supabase::{Insert, InvalidRequest, Postgrest, Query};

use crate::action::InvalidAction;
use crate::odoo::Delivery;
use crate::trigger::DirectCall;

/// The table.
pub(crate) const TABLE: &str = "odoo_action_outbox";
/// Columns a claim reads back: everything needed to call Odoo.
pub(crate) const CLAIMED_COLUMNS: &str = "id,action,args,attempts,correlation_id,idempotency_key";
/// First retry delay (seconds) before jitter; doubles with every attempt.
pub(crate) const BACKOFF_BASE_SECS: u64 = 30;
/// Longest retry delay (seconds).
pub(crate) const BACKOFF_CAP_SECS: u64 = 3600;
/// How long a row waits while Odoo refuses the caller (401/403/404), without an attempt
/// counted: until an operator fixes the setting, every delivery would fail the same way.
pub(crate) const PAUSED_RETRY_SECS: u64 = 300;
/// How `last_error` starts for a row that waits on a paused destination.
pub(crate) const PAUSED_PREFIX: &str = "destination paused: ";
/// Longest `last_error` stored (characters).
pub(crate) const MAX_LAST_ERROR_CHARS: usize = 500;

/// A row this delivery owns: it is `sent`, and no other delivery will claim it before its
/// lease passes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Claimed {
    /// Primary key.
    pub(crate) id: i64,
    /// The Odoo action name.
    pub(crate) action: String,
    /// Its arguments (a JSON object, by the table's check constraint).
    pub(crate) args: Value,
    /// Delivery attempts made before this one.
    pub(crate) attempts: u32,
    /// The row's correlation id (a UUID).
    pub(crate) correlation_id: String,
    /// The row's idempotency key (a UUID), the same on every delivery attempt.
    pub(crate) idempotency_key: String,
}

/// The answer from PostgREST was not the expected JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnexpectedRepresentation(pub &'static str);

impl fmt::Display for UnexpectedRepresentation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected PostgREST representation: {}", self.0)
    }
}

impl std::error::Error for UnexpectedRepresentation {}

/// `(status=queued and next_attempt_at <= now) or (status=sent and sent_at < now - lease)`,
/// as a PostgREST `or` filter for reads. Timestamps are quoted: `:` is reserved in that
/// syntax.
fn due_filter(now: u64, lease_secs: u64) -> String {
    format!(
        "(and(status.eq.queued,next_attempt_at.lte.\"{}\"),and(status.eq.sent,sent_at.lt.\"{}\"))",
        rfc3339(now),
        rfc3339(now.saturating_sub(lease_secs))
    )
}

fn claim_body(now: u64) -> Vec<u8> {
    format!(r#"{{"sent_at":"{}","status":"sent"}}"#, rfc3339(now)).into_bytes()
}

/// Claims row `id` if it is still `queued` (the database webhook and direct calls).
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn claim_queued(
    db: &Postgrest,
    id: i64,
    now: u64,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut filter = Query::default();
    filter
        .push("id", &format!("eq.{id}"))
        .push("status", "eq.queued")
        .push("select", CLAIMED_COLUMNS);
    db.update(TABLE, &filter, claim_body(now))
}

/// Why the drain found a row due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// `queued` and `next_attempt_at` has passed.
    Queued,
    /// `sent` longer than the lease: its delivery never recorded an outcome.
    LeaseExpired,
}

/// A row the drain found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DueRow {
    /// Primary key.
    pub(crate) id: i64,
    /// Which condition made it due.
    pub(crate) due: Due,
    /// Its `attempts` when the drain read it.
    pub(crate) attempts: u32,
}

/// Claims a due row (the drain), repeating the condition it was found under, so a row that
/// another delivery claimed meanwhile is not claimed again.
///
/// A row whose lease expired had a delivery that died (or overran) after claiming it, maybe
/// after Odoo applied it: that attempt is counted here (`attempts + 1`, conditional on the
/// count the drain read), so `OUTBOX_MAX_ATTEMPTS` bounds dying deliveries too.
///
/// The condition is a plain filter per kind rather than one PostgREST `or=(...)` tree:
/// PostgREST 12 applies logic trees to the returned representation too, after the update,
/// where a just-claimed row no longer matches, so a successful claim would come back empty.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn claim_due(
    db: &Postgrest,
    row: DueRow,
    now: u64,
    lease_secs: u64,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut filter = Query::default();
    filter.push("id", &format!("eq.{}", row.id));
    let body = match row.due {
        Due::Queued => {
            filter
                .push("status", "eq.queued")
                .push("next_attempt_at", &format!("lte.{}", rfc3339(now)));
            claim_body(now)
        }
        Due::LeaseExpired => {
            filter
                .push("status", "eq.sent")
                .push(
                    "sent_at",
                    &format!("lt.{}", rfc3339(now.saturating_sub(lease_secs))),
                )
                .push("attempts", &format!("eq.{}", row.attempts));
            format!(
                r#"{{"attempts":{},"sent_at":"{}","status":"sent"}}"#,
                row.attempts.saturating_add(1),
                rfc3339(now)
            )
            .into_bytes()
        }
    };
    filter.push("select", CLAIMED_COLUMNS);
    db.update(TABLE, &filter, body)
}

/// Up to `limit` due rows, oldest first, with their status.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn select_due(
    db: &Postgrest,
    now: u64,
    lease_secs: u64,
    limit: usize,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut query = Query::default();
    query
        .push("select", "id,status,attempts")
        .push("or", &due_filter(now, lease_secs))
        .push("order", "id.asc")
        .push("limit", &limit.to_string());
    db.select(TABLE, &query)
}

/// The rows [`select_due`] returned.
///
/// # Errors
/// When the body is not an array of `{id, status}` with status `queued` or `sent`.
pub(crate) fn due_rows(body: &[u8]) -> Result<Vec<DueRow>, UnexpectedRepresentation> {
    rows(body)
        .and_then(|rows| {
            rows.iter()
                .map(|row| {
                    let due = match row.get("status")?.as_str()? {
                        "queued" => Due::Queued,
                        "sent" => Due::LeaseExpired,
                        _ => return None,
                    };
                    Some(DueRow {
                        id: row.get("id")?.as_i64()?,
                        due,
                        attempts: u32::try_from(row.get("attempts")?.as_u64()?).ok()?,
                    })
                })
                .collect()
        })
        .ok_or(UnexpectedRepresentation(
            "expected an array of {id, status: queued|sent, attempts}",
        ))
}

/// Inserts a `queued` row for a direct call keyed by its `request_id`, returning its id; a
/// key already in the table inserts nothing and returns `[]` (see [`by_request_id`]).
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn insert(
    db: &Postgrest,
    call: &DirectCall,
    correlation_id: &str,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    // Keys in serde_json's order; the caller's strings escaped by serde_json.
    let text = |s: &str| Value::from(s).to_string();
    let body = format!(
        r#"{{"action":{},"args":{},"correlation_id":{},"request_id":{}}}"#,
        text(&call.action),
        Value::Object(call.args.clone()),
        text(correlation_id),
        text(&call.request_id)
    );
    db.insert(
        TABLE,
        body.into_bytes(),
        &Insert::ignore_duplicates("request_id").returning("id"),
    )
}

/// One queued row whose last delivery found the destination paused, if any: what the health
/// check reports.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn paused(db: &Postgrest) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut query = Query::default();
    query
        .push("status", "eq.queued")
        .push("last_error", &format!("like.{PAUSED_PREFIX}*"))
        .push("select", "id")
        .push("limit", "1");
    db.select(TABLE, &query)
}

/// Reads the row a direct call's `request_id` already keys, if it holds the same call
/// (action and args, compared by PostgreSQL as jsonb): `[{id}]`, or `[]` when the key
/// belongs to another call, which [`crate::trigger::InvalidBody::RequestIdReused`] refuses
/// (pushing the old row would silently drop the new call).
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn same_call(
    db: &Postgrest,
    call: &DirectCall,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut query = Query::default();
    query
        .push("request_id", &format!("eq.{}", call.request_id))
        .push("action", &format!("eq.{}", call.action))
        .push("args", &format!("eq.{}", Value::Object(call.args.clone())))
        .push("select", "id");
    db.select(TABLE, &query)
}

impl Claimed {
    /// Reads a returned row by hand: serde's derive would link float formatting for its
    /// type-mismatch messages (~20 KB of wasm).
    fn from_row(row: Map<String, Value>) -> Option<Self> {
        let (mut id, mut action, mut args, mut attempts, mut correlation_id, mut key) =
            (None, None, None, None, None, None);
        for (name, value) in row {
            match (name.as_str(), value) {
                ("id", Value::Number(n)) => id = n.as_i64(),
                ("action", Value::String(s)) => action = Some(s),
                ("args", value) => args = Some(value),
                ("attempts", Value::Number(n)) => {
                    attempts = n.as_u64().and_then(|a| u32::try_from(a).ok());
                }
                ("correlation_id", Value::String(s)) => correlation_id = Some(s),
                ("idempotency_key", Value::String(s)) => key = Some(s),
                _ => {}
            }
        }
        Some(Self {
            id: id?,
            action: action?,
            args: args?,
            attempts: attempts?,
            correlation_id: correlation_id?,
            idempotency_key: key?,
        })
    }
}

/// The JSON array PostgREST returns, as objects.
fn rows(body: &[u8]) -> Option<Vec<Map<String, Value>>> {
    let Ok(Value::Array(items)) = serde_json::from_slice(body) else {
        return None;
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(row) => Some(row),
            _ => None,
        })
        .collect()
}

/// The row a claim returned, or `None` when nothing was claimed.
///
/// # Errors
/// When the body is not an array of claimed rows.
pub(crate) fn claimed(body: &[u8]) -> Result<Option<Claimed>, UnexpectedRepresentation> {
    let unexpected = UnexpectedRepresentation("a claim must return [] or [row]");
    match rows(body).ok_or(unexpected.clone())?.into_iter().next() {
        None => Ok(None),
        Some(row) => Claimed::from_row(row).map(Some).ok_or(unexpected),
    }
}

/// The ids from [`insert`] or [`finish`].
///
/// # Errors
/// When the body is not an array of `{id}`.
pub(crate) fn ids(body: &[u8]) -> Result<Vec<i64>, UnexpectedRepresentation> {
    rows(body)
        .and_then(|rows| rows.iter().map(|row| row.get("id")?.as_i64()).collect())
        .ok_or(UnexpectedRepresentation("expected an array of {id}"))
}

/// Where a claimed row goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Odoo applied it.
    Applied {
        /// Attempts including this one.
        attempts: u32,
        /// Unix seconds.
        at: u64,
    },
    /// A transient failure with attempts left: back to `queued`.
    Retry {
        /// Attempts including this one.
        attempts: u32,
        /// Unix seconds when it is due again.
        next_attempt_at: u64,
        /// What went wrong.
        last_error: String,
    },
    /// A permanent failure, or the last attempt failed.
    Failed {
        /// Attempts including this one (unchanged when nothing was sent).
        attempts: u32,
        /// What went wrong.
        last_error: String,
    },
}

impl Transition {
    /// The outcome of one delivery attempt of a row that had `attempts_before` attempts,
    /// at `now`, with `jitter` from the random port.
    #[must_use]
    pub(crate) fn after_delivery(
        attempts_before: u32,
        delivery: &Delivery,
        now: u64,
        max_attempts: u32,
        jitter: u32,
    ) -> Self {
        let attempts = attempts_before.saturating_add(1);
        match delivery {
            Delivery::Applied => Self::Applied { attempts, at: now },
            Delivery::Rejected(reason) => Self::Failed {
                attempts,
                last_error: clip(reason),
            },
            Delivery::Paused(reason) => Self::Retry {
                attempts: attempts_before,
                next_attempt_at: now.saturating_add(PAUSED_RETRY_SECS),
                last_error: clip(&format!("{PAUSED_PREFIX}{reason}")),
            },
            Delivery::Transient(reason) if attempts >= max_attempts => Self::Failed {
                attempts,
                last_error: clip(&format!("gave up after {attempts} attempts: {reason}")),
            },
            Delivery::Transient(reason) => Self::Retry {
                attempts,
                next_attempt_at: now.saturating_add(backoff_secs(attempts, jitter)),
                last_error: clip(reason),
            },
        }
    }

    /// A row whose expired leases used up its attempts: `error`, nothing sent again.
    #[must_use]
    pub(crate) fn abandoned(attempts: u32) -> Self {
        Self::Failed {
            attempts,
            last_error: clip(&format!(
                "gave up after {attempts} attempts: deliveries did not record an outcome within the lease"
            )),
        }
    }

    /// A row whose action or args are refused: `error`, nothing sent, attempts unchanged.
    #[must_use]
    pub(crate) fn refused(attempts: u32, reason: &InvalidAction) -> Self {
        Self::Failed {
            attempts,
            last_error: clip(&reason.to_string()),
        }
    }

    /// The row's new `status`.
    #[must_use]
    pub(crate) fn status(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Retry { .. } => "queued",
            Self::Failed { .. } => "error",
        }
    }

    /// The row's new `attempts`.
    #[must_use]
    pub(crate) fn attempts(&self) -> u32 {
        match self {
            Self::Applied { attempts, .. }
            | Self::Retry { attempts, .. }
            | Self::Failed { attempts, .. } => *attempts,
        }
    }

    /// The PATCH body, keys in the order serde_json would write them. Formatted directly:
    /// a `json!` map per variant costs more wasm than these three strings.
    fn body(&self) -> String {
        let text = |s: &str| Value::from(s).to_string();
        match self {
            Self::Applied { attempts, at } => format!(
                r#"{{"applied_at":"{}","attempts":{attempts},"last_error":null,"status":"applied"}}"#,
                rfc3339(*at)
            ),
            Self::Retry {
                attempts,
                next_attempt_at,
                last_error,
            } => format!(
                r#"{{"attempts":{attempts},"last_error":{},"next_attempt_at":"{}","status":"queued"}}"#,
                text(last_error),
                rfc3339(*next_attempt_at)
            ),
            Self::Failed {
                attempts,
                last_error,
            } => format!(
                r#"{{"attempts":{attempts},"last_error":{},"status":"error"}}"#,
                text(last_error)
            ),
        }
    }
}

/// Records `transition` on row `id`, only while this delivery still owns it: the row is
/// `sent` with the `sent_at` its claim at `claimed_at` wrote. That timestamp is the claim's
/// token: a later claim needs the lease (at least 10 s) to have passed, so it always writes a
/// later second, and a late outcome of an expired claim matches no row.
///
/// # Errors
/// [`InvalidRequest`] when the REST URL makes no valid URI.
pub(crate) fn finish(
    db: &Postgrest,
    id: i64,
    claimed_at: u64,
    transition: &Transition,
) -> Result<http::Request<Vec<u8>>, InvalidRequest> {
    let mut filter = Query::default();
    filter
        .push("id", &format!("eq.{id}"))
        .push("status", "eq.sent")
        .push("sent_at", &format!("eq.{}", rfc3339(claimed_at)))
        .push("select", "id");
    db.update(TABLE, &filter, transition.body().into_bytes())
}

/// Seconds until retry number `attempts` (1-based): "equal jitter" over an exponential
/// delay, `d/2 + jitter mod (d/2 + 1)` with `d = min(cap, base * 2^(attempts-1))`, so it lies
/// in `[d/2, d]` and never exceeds [`BACKOFF_CAP_SECS`].
#[must_use]
pub(crate) fn backoff_secs(attempts: u32, jitter: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(32);
    let delay = BACKOFF_BASE_SECS
        .saturating_mul(1u64 << doublings)
        .min(BACKOFF_CAP_SECS);
    let half = delay / 2;
    half + u64::from(jitter) % (half + 1)
}

/// Truncates to [`MAX_LAST_ERROR_CHARS`] characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_LAST_ERROR_CHARS) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_795_428_000; // 2026-11-23T10:00:00Z

    fn db() -> Postgrest {
        Postgrest::new("http://db.test/rest/v1", "k")
    }

    fn body(request: &http::Request<Vec<u8>>) -> String {
        String::from_utf8(request.body().clone()).unwrap()
    }

    #[test]
    fn claim_queued_is_a_conditional_patch() {
        let r = claim_queued(&db(), 7, NOW).unwrap();
        assert_eq!(r.method(), http::Method::PATCH);
        assert_eq!(
            r.uri(),
            "http://db.test/rest/v1/odoo_action_outbox?id=eq.7&status=eq.queued&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key"
        );
        assert_eq!(r.headers()["prefer"], "return=representation");
        assert_eq!(
            body(&r),
            r#"{"sent_at":"2026-11-23T10:00:00Z","status":"sent"}"#
        );
    }

    #[test]
    fn claim_due_repeats_the_queued_condition() {
        let row = DueRow {
            id: 7,
            due: Due::Queued,
            attempts: 1,
        };
        let r = claim_due(&db(), row, NOW, 300).unwrap();
        assert_eq!(r.method(), http::Method::PATCH);
        assert_eq!(
            r.uri(),
            concat!(
                "http://db.test/rest/v1/odoo_action_outbox?id=eq.7&status=eq.queued",
                "&next_attempt_at=lte.2026-11-23T10%3A00%3A00Z",
                "&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key"
            )
        );
        assert_eq!(
            body(&r),
            r#"{"sent_at":"2026-11-23T10:00:00Z","status":"sent"}"#
        );
    }

    #[test]
    fn claim_due_repeats_the_expired_lease_condition() {
        let row = DueRow {
            id: 8,
            due: Due::LeaseExpired,
            attempts: 2,
        };
        let r = claim_due(&db(), row, NOW, 300).unwrap();
        assert_eq!(
            r.uri(),
            concat!(
                "http://db.test/rest/v1/odoo_action_outbox?id=eq.8&status=eq.sent",
                "&sent_at=lt.2026-11-23T09%3A55%3A00Z&attempts=eq.2",
                "&select=id%2Caction%2Cargs%2Cattempts%2Ccorrelation_id%2Cidempotency_key"
            )
        );
        // The delivery that let the lease expire counts as an attempt.
        assert_eq!(
            body(&r),
            r#"{"attempts":3,"sent_at":"2026-11-23T10:00:00Z","status":"sent"}"#
        );
    }

    #[test]
    fn select_due_is_bounded_and_oldest_first() {
        let r = select_due(&db(), NOW, 60, 10).unwrap();
        assert_eq!(r.method(), http::Method::GET);
        assert_eq!(
            r.uri(),
            concat!(
                "http://db.test/rest/v1/odoo_action_outbox?select=id%2Cstatus%2Cattempts",
                "&or=(and(status.eq.queued%2Cnext_attempt_at.lte.%222026-11-23T10%3A00%3A00Z%22)",
                "%2Cand(status.eq.sent%2Csent_at.lt.%222026-11-23T09%3A59%3A00Z%22))",
                "&order=id.asc&limit=10"
            )
        );
    }

    #[test]
    fn due_rows_know_why_they_are_due() {
        assert_eq!(
            due_rows(
                br#"[{"id":3,"status":"queued","attempts":1},{"id":4,"status":"sent","attempts":0}]"#
            )
            .unwrap(),
            [
                DueRow {
                    id: 3,
                    due: Due::Queued,
                    attempts: 1,
                },
                DueRow {
                    id: 4,
                    due: Due::LeaseExpired,
                    attempts: 0,
                }
            ]
        );
        assert!(due_rows(br#"[{"id":3,"status":"queued"}]"#).is_err());
        assert!(due_rows(br#"[{"id":3,"status":"applied"}]"#).is_err());
        assert!(due_rows(br#"[{"id":3}]"#).is_err());
    }

    fn call(request_id: &str) -> DirectCall {
        DirectCall {
            action: "account.move.post".into(),
            args: json!({"id": 7}).as_object().unwrap().clone(),
            request_id: request_id.into(),
            correlation_id: None,
        }
    }

    #[test]
    fn a_direct_call_is_inserted_once_per_request_id() {
        let r = insert(
            &db(),
            &call("odoo:42"),
            "c0ffee00-0000-4000-8000-000000000000",
        )
        .unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            r.uri(),
            "http://db.test/rest/v1/odoo_action_outbox?on_conflict=request_id&select=id"
        );
        assert_eq!(
            r.headers()["prefer"],
            "resolution=ignore-duplicates,return=representation"
        );
        assert_eq!(
            body(&r),
            r#"{"action":"account.move.post","args":{"id":7},"correlation_id":"c0ffee00-0000-4000-8000-000000000000","request_id":"odoo:42"}"#
        );
        let lookup = same_call(&db(), &call("odoo:42")).unwrap();
        assert_eq!(
            lookup.uri(),
            "http://db.test/rest/v1/odoo_action_outbox?request_id=eq.odoo%3A42&action=eq.account.move.post&args=eq.%7B%22id%22%3A7%7D&select=id"
        );
    }

    /// The bodies are formatted by hand, so check they are JSON with the caller's text
    /// escaped, whatever it holds.
    #[test]
    fn hand_formatted_bodies_are_json_with_strings_escaped() {
        let hostile = "odoo said \"no\"\n\\ {}";
        let failed = Transition::Failed {
            attempts: 3,
            last_error: hostile.into(),
        };
        let parsed: Value = serde_json::from_str(&failed.body()).unwrap();
        assert_eq!(
            parsed,
            json!({"attempts": 3, "last_error": hostile, "status": "error"})
        );
        let mut call = call("k\"1");
        call.action = hostile.into();
        let r = insert(&db(), &call, "c").unwrap();
        let parsed: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            parsed,
            json!({"action": hostile, "args": {"id": 7}, "correlation_id": "c", "request_id": "k\"1"})
        );
    }

    #[test]
    fn claimed_reads_the_row_or_nothing() {
        let row = claimed(
            br#"[{"id":7,"action":"a","args":{"id":1},"attempts":2,"correlation_id":"c","idempotency_key":"k"}]"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((row.id, row.attempts), (7, 2));
        assert_eq!(claimed(b"[]").unwrap(), None);
        assert!(claimed(br#"{"id":7}"#).is_err());
    }

    #[test]
    fn ids_of_rows() {
        assert_eq!(ids(br#"[{"id":3},{"id":9}]"#).unwrap(), [3, 9]);
        assert!(ids(b"null").is_err());
    }

    #[test]
    fn applied_on_2xx() {
        let t = Transition::after_delivery(0, &Delivery::Applied, NOW, 8, 0);
        assert_eq!(
            t,
            Transition::Applied {
                attempts: 1,
                at: NOW
            }
        );
        let r = finish(&db(), 7, 1_795_428_000, &t).unwrap();
        assert_eq!(
            r.uri(),
            "http://db.test/rest/v1/odoo_action_outbox?id=eq.7&status=eq.sent&sent_at=eq.2026-11-23T10%3A00%3A00Z&select=id"
        );
        assert_eq!(
            body(&r),
            r#"{"applied_at":"2026-11-23T10:00:00Z","attempts":1,"last_error":null,"status":"applied"}"#
        );
    }

    #[test]
    fn rejected_is_permanent() {
        let t = Transition::after_delivery(
            3,
            &Delivery::Rejected("odoo answered 422: no".into()),
            NOW,
            8,
            0,
        );
        assert_eq!(
            t,
            Transition::Failed {
                attempts: 4,
                last_error: "odoo answered 422: no".into()
            }
        );
        assert_eq!(
            body(&finish(&db(), 7, 1_795_428_000, &t).unwrap()),
            r#"{"attempts":4,"last_error":"odoo answered 422: no","status":"error"}"#
        );
    }

    #[test]
    fn transient_goes_back_to_queued_with_backoff() {
        let t = Transition::after_delivery(0, &Delivery::Transient("timed out".into()), NOW, 8, 7);
        assert_eq!(
            t,
            Transition::Retry {
                attempts: 1,
                next_attempt_at: NOW + 15 + 7,
                last_error: "timed out".into()
            }
        );
        assert_eq!(
            body(&finish(&db(), 7, 1_795_428_000, &t).unwrap()),
            r#"{"attempts":1,"last_error":"timed out","next_attempt_at":"2026-11-23T10:00:22Z","status":"queued"}"#
        );
    }

    #[test]
    fn transient_at_max_attempts_is_an_error() {
        let t = Transition::after_delivery(
            7,
            &Delivery::Transient("odoo answered 503".into()),
            NOW,
            8,
            0,
        );
        assert_eq!(
            t,
            Transition::Failed {
                attempts: 8,
                last_error: "gave up after 8 attempts: odoo answered 503".into()
            }
        );
        let before = Transition::after_delivery(6, &Delivery::Transient("x".into()), NOW, 8, 0);
        assert_eq!(before.status(), "queued");
    }

    #[test]
    fn max_attempts_of_one_never_retries() {
        let t = Transition::after_delivery(0, &Delivery::Transient("x".into()), NOW, 1, 0);
        let paused = Transition::after_delivery(
            7,
            &Delivery::Paused("odoo answered 401: x".into()),
            NOW,
            8,
            0,
        );
        assert_eq!(
            paused,
            Transition::Retry {
                attempts: 7,
                next_attempt_at: NOW + PAUSED_RETRY_SECS,
                last_error: "destination paused: odoo answered 401: x".into(),
            },
            "a paused destination never uses up a row's attempts"
        );
        assert_eq!(t.status(), "error");
    }

    #[test]
    fn refused_rows_keep_their_attempts() {
        let t = Transition::refused(2, &InvalidAction::NotAllowed("x.y".into()));
        assert_eq!((t.status(), t.attempts()), ("error", 2));
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        assert_eq!(backoff_secs(1, 0), 15);
        assert_eq!(backoff_secs(1, 15), 30);
        assert_eq!(backoff_secs(1, 16), 15);
        assert_eq!(backoff_secs(2, 0), 30);
        assert_eq!(backoff_secs(3, 0), 60);
        assert_eq!(backoff_secs(7, 0), 960);
        assert_eq!(backoff_secs(8, 0), 1800);
        assert_eq!(backoff_secs(8, u32::MAX), 1800 + u64::from(u32::MAX) % 1801);
        for attempts in [0, 1, 5, 8, 9, 40, u32::MAX] {
            for jitter in [0, 1, 12345, u32::MAX] {
                assert!(backoff_secs(attempts, jitter) <= BACKOFF_CAP_SECS);
            }
        }
    }

    #[test]
    fn long_errors_are_clipped() {
        let t = Transition::after_delivery(0, &Delivery::Rejected("é".repeat(900)), NOW, 8, 0);
        let Transition::Failed { last_error, .. } = t else {
            unreachable!()
        };
        assert_eq!(last_error.chars().count(), MAX_LAST_ERROR_CHARS + 3);
    }
}
