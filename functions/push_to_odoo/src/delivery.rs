//! Delivering outbox rows: the I/O around the pure [`outbox`](crate::outbox) and
//! [`odoo`](crate::odoo) decisions, generic over [`Platform`].

use core::time::Duration;

use pulser_runtime::pipeline::{Error, Refusal};
use pulser_runtime::time::rfc3339;
use pulser_runtime::{Level, Platform, Request, Response};
use pulser_supabase::InvalidRequest;
use serde_json::{Map, Value};

use crate::error::PushError;
use crate::odoo::Delivery;
use crate::outbox::{self, Transition};
use crate::settings::{Plan, Settings};
use crate::trigger::{DirectCall, InvalidBody};

/// How long PostgREST gets for one request; [`Plan`] budgets three of them per push.
pub const POSTGREST_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// The row's id.
    pub(crate) id: i64,
    /// Its transition, or `None` when this delivery did not claim it.
    pub(crate) outcome: Option<Transition>,
    /// Whether the transition was written. `false` when the row's lease passed while this
    /// delivery was in flight and another delivery claimed it: that one's outcome stands, so
    /// this one is never reported as the row's status.
    pub(crate) recorded: bool,
    /// A direct call whose `request_id` already had its row: nothing was inserted.
    pub(crate) duplicate: bool,
}

impl Report {
    /// `{"id", "claimed": false, "message"}` or `{"id", "claimed": true, "status",
    /// "attempts", "next_attempt_at"?, "last_error"?}`.
    #[must_use]
    pub(crate) fn to_json(&self) -> Value {
        // One map filled field by field: each `json!` literal would inline its own copy of
        // the map-building code.
        let mut out = Map::new();
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_owned(), value);
        };
        put("id", self.id.into());
        put("claimed", self.outcome.is_some().into());
        match &self.outcome {
            None => put(
                "message",
                "the row was not claimed: it is not queued (another delivery has it, or it is done)"
                    .into(),
            ),
            Some(transition) if !self.recorded => {
                put("recorded", false.into());
                put("outcome", transition.status().into());
                put(
                    "message",
                    "another delivery claimed the row while this one waited on Odoo; this outcome was not recorded"
                        .into(),
                );
            }
            Some(transition) => {
                put("status", transition.status().into());
                put("attempts", transition.attempts().into());
                match transition {
                    Transition::Applied { .. } => {}
                    Transition::Retry {
                        next_attempt_at,
                        last_error,
                        ..
                    } => {
                        put("next_attempt_at", rfc3339(*next_attempt_at).into());
                        put("last_error", last_error.as_str().into());
                    }
                    Transition::Failed { last_error, .. } => {
                        put("last_error", last_error.as_str().into());
                    }
                }
            }
        }
        if self.duplicate {
            put("duplicate", true.into());
        }
        Value::Object(out)
    }
}

/// Sends one PostgREST request; a 2xx answer or the error to report. For a write an
/// unanswered request is an unknown outcome (`store_outcome_unknown`), for a read it is
/// unavailable.
async fn store(
    platform: &impl Platform,
    request: Result<Request, InvalidRequest>,
) -> Result<Response, Refusal> {
    let request = request?;
    let write = request.method() != http::Method::GET;
    let result = platform.send(request, POSTGREST_TIMEOUT).await;
    Ok(if write {
        pulser_supabase::written(result)
    } else {
        pulser_supabase::succeeded(result)
    }?)
}

/// Whether any row waits on a paused destination (see [`outbox::paused`]).
///
/// # Errors
/// [`Refusal`] when PostgREST fails.
pub(crate) async fn destination_paused(
    platform: &impl Platform,
    db: &pulser_supabase::Postgrest,
) -> Result<bool, Refusal> {
    let answer = store(platform, outbox::paused(db)).await?;
    Ok(!outbox::ids(answer.body())
        .map_err(|e| Refusal::StoreRejected(e.to_string()))?
        .is_empty())
}

fn jitter(platform: &impl Platform) -> u32 {
    let mut bytes = [0u8; 4];
    platform
        .fill_random(&mut bytes)
        .map_or(0, |()| u32::from_le_bytes(bytes))
}

/// Pushes row `id` if it is still `queued` (database webhook, direct call).
///
/// # Errors
/// [`Refusal`] when PostgREST fails; Odoo's failures are recorded on the row instead.
pub(crate) async fn push_queued(
    platform: &impl Platform,
    settings: &Settings,
    id: i64,
) -> Result<Report, Refusal> {
    let now = platform.now();
    let claim = outbox::claim_queued(&settings.db, id, now);
    deliver(platform, settings, id, now, claim).await
}

/// Inserts the row of a direct call, keyed by its `request_id`, then pushes it like the
/// database webhook would. A key already in the table inserts nothing: its row is pushed if
/// it is still queued (the first call died before claiming it) and otherwise reported as it
/// is, so a retry or a replay never adds a second effect.
///
/// # Errors
/// As [`push_queued`], and [`PushError::InvalidBody`] when the key belongs to another call.
pub(crate) async fn push_direct(
    platform: &impl Platform,
    settings: &Settings,
    call: &DirectCall,
    correlation_id: &str,
) -> Result<Report, Error<PushError>> {
    let insert = outbox::insert(&settings.db, call, correlation_id);
    let answer = store(platform, insert).await?;
    let inserted = outbox::ids(answer.body())
        .map_err(|e| Refusal::StoreRejected(e.to_string()))?
        .first()
        .copied();
    let (id, duplicate) = match inserted {
        Some(id) => (id, false),
        None => {
            let lookup = outbox::same_call(&settings.db, call);
            let found = store(platform, lookup).await?;
            let id = outbox::ids(found.body())
                .map_err(|e| Refusal::StoreRejected(e.to_string()))?
                .first()
                .copied()
                .ok_or(PushError::InvalidBody(InvalidBody::RequestIdReused))?;
            platform.log(
                Level::Info,
                "direct call already has its outbox row; nothing inserted",
                &[("id", &id.to_string()), ("request_id", &call.request_id)],
            );
            (id, true)
        }
    };
    let mut report = push_queued(platform, settings, id).await?;
    report.duplicate = duplicate;
    Ok(report)
}

/// Pushes up to `OUTBOX_DRAIN_LIMIT` due rows, oldest first, each claimed on its own, while
/// the time left before `PUSH_DEADLINE_MS` still holds one whole delivery.
///
/// # Errors
/// [`Refusal`] when PostgREST fails; rows handled before that keep their new state.
pub(crate) async fn drain(
    platform: &impl Platform,
    settings: &Settings,
) -> Result<Vec<Report>, Refusal> {
    let started = platform.now();
    let select = outbox::select_due(
        &settings.db,
        started,
        settings.lease_secs,
        settings.drain_limit,
    );
    let due = outbox::due_rows(store(platform, select).await?.body())
        .map_err(|e| Refusal::StoreRejected(e.to_string()))?;
    let delivery = Plan::delivery(settings.odoo.timeout());
    let mut reports = Vec::with_capacity(due.len());
    for row in due {
        let now = platform.now();
        if !may_claim(started, now, settings.deadline, delivery) {
            platform.log(
                Level::Warn,
                "drain stopped: one more delivery might pass PUSH_DEADLINE_MS; the rest wait",
                &[("handled", &reports.len().to_string())],
            );
            break;
        }
        let claim = outbox::claim_due(&settings.db, row, now, settings.lease_secs);
        reports.push(deliver(platform, settings, row.id, now, claim).await?);
    }
    Ok(reports)
}

/// Whether a drain that started at `started` (unix seconds) may claim another row at `now`:
/// the time spent so far, rounded up to the next whole second since the clock has no
/// finer grain, plus one more `delivery` must fit within `deadline`. Claiming a row it cannot
/// finish would leave it `sent` until its lease passes, with Odoo perhaps having applied it.
#[must_use]
pub(crate) fn may_claim(started: u64, now: u64, deadline: Duration, delivery: Duration) -> bool {
    let spent = Duration::from_secs(now.saturating_sub(started).saturating_add(1));
    spent.saturating_add(delivery) <= deadline
}

/// Claim (made at `claimed_at`), check, call Odoo, record the outcome fenced by the claim.
async fn deliver(
    platform: &impl Platform,
    settings: &Settings,
    id: i64,
    claimed_at: u64,
    claim: Result<Request, InvalidRequest>,
) -> Result<Report, Refusal> {
    let id_text = id.to_string();
    let answer = store(platform, claim).await?;
    let Some(row) =
        outbox::claimed(answer.body()).map_err(|e| Refusal::StoreRejected(e.to_string()))?
    else {
        platform.log(
            Level::Info,
            "outbox row not claimed; nothing sent",
            &[("id", &id_text)],
        );
        return Ok(Report {
            id,
            outcome: None,
            recorded: false,
            duplicate: false,
        });
    };

    let transition = match settings.actions.check(&row.action, &row.args) {
        // Only a lease-expired claim counts an attempt; when that used up the budget, the
        // row is not sent again.
        _ if row.attempts >= settings.max_attempts => Transition::abandoned(row.attempts),
        Err(invalid) => Transition::refused(row.attempts, &invalid),
        Ok(()) => {
            let timeout = settings.odoo.timeout();
            let delivery = match settings.odoo.request(&row, platform.now()) {
                Ok(request) => Delivery::of(&platform.send(request, timeout).await, timeout),
                Err(e) => Delivery::Transient(e.to_string()),
            };
            if let Delivery::Paused(reason) = &delivery {
                platform.log(
                    Level::Error,
                    "Odoo refuses the caller or the URL: the outbox is paused (rows wait, no attempt counted) until ODOO_API_TOKEN, ODOO_SIGNING_SECRET or ODOO_BASE_URL is fixed",
                    &[("id", &id_text), ("reason", reason)],
                );
            }
            Transition::after_delivery(
                row.attempts,
                &delivery,
                platform.now(),
                settings.max_attempts,
                jitter(platform),
            )
        }
    };

    let finish = outbox::finish(&settings.db, row.id, claimed_at, &transition);
    let recorded = match store(platform, finish).await {
        Ok(answer) => answer,
        Err(e) => {
            platform.log(
                Level::Error,
                "outbox outcome not recorded; the row stays sent until its lease passes",
                &[("id", &id_text), ("status", transition.status())],
            );
            return Err(e);
        }
    };
    if outbox::ids(recorded.body()).map_or(true, |ids| ids.is_empty()) {
        platform.log(
            Level::Warn,
            "outbox row was claimed again while in flight; this outcome is not recorded",
            &[("id", &id_text), ("status", transition.status())],
        );
        return Ok(Report {
            id: row.id,
            outcome: Some(transition),
            recorded: false,
            duplicate: false,
        });
    }
    platform.log(
        Level::Info,
        "outbox row handled",
        &[
            ("id", &id_text),
            ("status", transition.status()),
            ("attempts", &transition.attempts().to_string()),
            ("correlation_id", &row.correlation_id),
        ],
    );
    Ok(Report {
        id: row.id,
        outcome: Some(transition),
        recorded: true,
        duplicate: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_drain_claims_only_while_one_more_delivery_fits_the_deadline() {
        let (deadline, delivery) = (Duration::from_secs(40), Duration::from_secs(20));
        assert!(may_claim(100, 100, deadline, delivery));
        // 19 s spent, rounded up to 20, plus 20 s for the delivery: exactly the deadline.
        assert!(may_claim(100, 119, deadline, delivery));
        assert!(!may_claim(100, 120, deadline, delivery));
        // A delivery that alone outlasts the deadline is never started.
        assert!(!may_claim(100, 100, deadline, Duration::from_secs(40)));
        // A clock that went backwards counts as no time spent.
        assert!(may_claim(100, 90, deadline, delivery));
    }

    #[test]
    fn report_of_an_unclaimed_row() {
        let json = Report {
            id: 4,
            outcome: None,
            recorded: false,
            duplicate: false,
        }
        .to_json();
        assert_eq!(json["claimed"], false);
        assert_eq!(json["id"], 4);
    }

    #[test]
    fn report_of_a_retry_names_when() {
        let json = Report {
            id: 4,
            outcome: Some(Transition::Retry {
                attempts: 2,
                next_attempt_at: 1_795_428_000,
                last_error: "odoo answered 502: x".into(),
            }),
            recorded: true,
            duplicate: false,
        }
        .to_json();
        assert_eq!(
            json,
            json!({"id": 4, "claimed": true, "status": "queued", "attempts": 2,
                   "next_attempt_at": "2026-11-23T10:00:00Z", "last_error": "odoo answered 502: x"})
        );
    }
}
