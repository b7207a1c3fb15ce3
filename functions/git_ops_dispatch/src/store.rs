//! The `git_ops_dispatch` rows in PostgREST: the I/O around the [`record`] decisions.
//! Every failure before the dispatch is one of the shared storage refusals, so nothing goes
//! to GitHub unless this request holds the row's claim.

use core::time::Duration;

use pulser_runtime::pipeline::Refusal;
use pulser_runtime::{Level, Platform};
use pulser_supabase::{Insert, InvalidRequest, Postgrest, StoreError};
use serde_json::Value;

use crate::error::GithubError;
use crate::record::{self, Next, Verdict};
use crate::request::Dispatch;

/// How long PostgREST gets for one request.
pub(crate) const POSTGREST_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends one insert or PATCH: whether it wrote a row.
async fn write(
    platform: &impl Platform,
    request: Result<http::Request<Vec<u8>>, InvalidRequest>,
) -> Result<bool, Refusal> {
    let answer = pulser_supabase::written(platform.send(request?, POSTGREST_TIMEOUT).await)?;
    Ok(record::wrote_a_row(answer.body()))
}

fn json(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Claims `dispatch.request_id` for this attempt (`correlation_id`), or says what the
/// request gets instead: a new id inserts its row `dispatching`; an id seen before is read
/// and decided on by [`record::next`].
///
/// # Errors
/// The shared storage refusals ([`StoreError`] as a [`Refusal`]); nothing was dispatched.
pub(crate) async fn claim(
    platform: &impl Platform,
    db: &Postgrest,
    dispatch: &Dispatch,
    correlation_id: &str,
) -> Result<Verdict, Refusal> {
    let now = platform.now();
    let id = dispatch.request_id.as_str();
    let row = record::new_row(dispatch, correlation_id);
    let insert = db.insert(
        record::TABLE,
        json(&row),
        &Insert::ignore_duplicates("request_id").returning("request_id"),
    );
    if write(platform, insert).await? {
        return Ok(Verdict::Dispatch);
    }
    let read = db.select(record::TABLE, &record::read(id))?;
    let answer = pulser_supabase::succeeded(platform.send(read, POSTGREST_TIMEOUT).await)?;
    let seen = record::seen(answer.body())
        .map_err(|e| StoreError::Rejected(e.into()))?
        .ok_or_else(|| {
            StoreError::Rejected("the git_ops_dispatch row was neither stored nor found".into())
        })?;
    match record::next(&seen, dispatch, now) {
        Next::Answer(verdict) => Ok(verdict),
        Next::ClaimAgain => {
            let body = record::claim_again(dispatch, correlation_id);
            let patch = db.update(record::TABLE, &record::while_failed(id), json(&body));
            let claimed = write(platform, patch).await?;
            // Matching nothing means another retry claimed it first.
            Ok(if claimed {
                Verdict::Dispatch
            } else {
                Verdict::InProgress
            })
        }
        Next::GiveUp => {
            let body = record::abandoned();
            let patch = db.update(
                record::TABLE,
                &record::while_abandoned(id, now),
                json(&body),
            );
            let given_up = write(platform, patch).await?;
            if given_up {
                platform.log(
                    Level::Warn,
                    "an abandoned git-ops claim is recorded as unknown",
                    &[("request_id", id)],
                );
            }
            // Matching nothing means its request recorded an outcome just now.
            Ok(if given_up {
                Verdict::OutcomeUnknown
            } else {
                Verdict::InProgress
            })
        }
    }
}

/// Records what GitHub answered on this attempt's row. A failure is logged, never answered:
/// the caller gets GitHub's outcome either way.
pub(crate) async fn finish(
    platform: &impl Platform,
    db: &Postgrest,
    dispatch: &Dispatch,
    correlation_id: &str,
    result: &Result<(), GithubError>,
) {
    let outcome = record::outcome(result);
    let filter = record::this_attempt(&dispatch.request_id, correlation_id);
    let patch = db.update(record::TABLE, &filter, json(&outcome.body()));
    let failure = match write(platform, patch).await {
        Ok(true) => return,
        Ok(false) => "the row of this attempt was not found".to_owned(),
        Err(e) => e.to_string(),
    };
    platform.log(
        Level::Error,
        "the outcome of a repository_dispatch was not recorded",
        &[
            ("request_id", &dispatch.request_id),
            ("status", outcome.status.as_str()),
            ("error", &failure),
        ],
    );
}
