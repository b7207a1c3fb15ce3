//! The one read of `oasis_events` through PostgREST, as the service role (after a read key)
//! or as the caller (their access token, under RLS).

use core::time::Duration;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::{Error, Refusal};
use pulser_supabase::{Outcome, Postgrest, Query};
use serde_json::Value;

use crate::auth::Reader;
use crate::error::OasisError;
use crate::settings::Settings;

/// How long PostgREST gets per read.
pub const POSTGREST_TIMEOUT: Duration = Duration::from_secs(5);
/// The table read.
pub const TABLE: &str = "oasis_events";

/// The PostgREST client `reader` reads as.
#[must_use]
fn client(settings: &Settings, reader: &Reader) -> Postgrest {
    match reader {
        Reader::ReadKey(_) => settings.db.clone(),
        Reader::AccessToken(token) => settings
            .db
            .on_behalf_of(token, settings.anon_key.as_deref()),
    }
}

/// The rows `query` selects, read as `reader`.
///
/// # Errors
/// [`OasisError::TokenRefused`] when PostgREST refuses a caller's own token (401, 403);
/// the shared store refusals otherwise (a refused service-role key is a 502: ours to fix).
pub(crate) async fn rows(
    platform: &impl Platform,
    settings: &Settings,
    reader: &Reader,
    query: &Query,
) -> Result<Vec<Value>, Error<OasisError>> {
    let request = client(settings, reader).select(TABLE, query)?;
    let answer = platform.send(request, POSTGREST_TIMEOUT).await;
    if let (Ok(response), Reader::AccessToken(_)) = (&answer, reader)
        && let Outcome::Rejected(status @ (401 | 403), _) = Outcome::of(response)
    {
        return Err(OasisError::TokenRefused(status).into());
    }
    let answer = pulser_supabase::succeeded(answer)?;
    match serde_json::from_slice(answer.body()) {
        Ok(Value::Array(rows)) => Ok(rows),
        _ => Err(
            Refusal::StoreRejected("PostgREST answered something not a JSON array".into()).into(),
        ),
    }
}
