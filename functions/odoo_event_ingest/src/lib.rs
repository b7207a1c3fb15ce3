#![warn(missing_docs, unreachable_pub)]
//! `POST /odoo_event_ingest`: Odoo's signed business events into `audit_event`.
//!
//! 1. `POST` only (405), `application/json` only (415), at most 1 MiB (413).
//! 2. The raw body is authenticated before anything parses it, with the secrets of
//!    `EDGE_HMAC_SECRET` (a rotation list): the Standard Webhooks headers when any is present
//!    (±300 s window), else the hex HMAC in `x-signature`. Missing or wrong: 401.
//! 3. The body is one event or an array of up to 500 ([`event`]); a bad field is a 422 naming
//!    it and, in a batch, its index. Every event gets an idempotency key: its own `event_id`,
//!    else one derived from what a retry repeats (the `webhook-id`, or the signed bytes).
//! 4. One PostgREST insert stores the batch ([`audit`]); a key stored before writes nothing
//!    and is reported as `{"duplicate": true, ...}`. PostgREST down or 5xx: 503
//!    `store_unavailable` with `retry-after`, nothing stored. No answer to the insert
//!    (timeout, lost connection): 503 `store_outcome_unknown`, since it may have committed;
//!    repeating the request is safe, as every event is keyed.
//! 5. With `REALTIME_CHANNEL` set, the stored events are broadcast through Supabase Realtime
//!    ([`broadcast`]); a failed broadcast is logged and never fails the request.
//!
//! The secrets are read first, to authenticate the caller; every other setting of
//! [`settings::TABLE`] after, so a missing or unusable one is a 500 naming it to an
//! authenticated caller only (an unauthenticated one gets 401).
//!
//! Answers: 201 `{"id", "correlation_id"}` (an array of those for a batch, with
//! `{"duplicate": true, "event_id", "correlation_id"}` for repeats); 200 when every event
//! was a repeat. Refusals follow the shared contract ([`pulser_runtime::pipeline`]); ingest's
//! own are in [`error::IngestError`].

use core::time::Duration;

use pulser_runtime::pipeline::{self, Error, Refusal, Spec};
use pulser_runtime::{Level, Platform, Request, Response, reply};
use pulser_supabase::config;
use serde_json::{Value, json};

mod audit;
mod auth;
mod broadcast;
mod error;
mod event;
pub mod settings;
mod timestamp;

use audit::Stored;
use error::IngestError;
use event::{Defaults, Event, Events, RequestIdentity, Shape};
use settings::Settings;

/// Largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = pulser_runtime::DEFAULT_MAX_BODY_BYTES;
/// How long PostgREST gets to store a batch.
pub const POSTGREST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the Realtime broadcast gets.
pub const BROADCAST_TIMEOUT: Duration = Duration::from_secs(5);

/// The pipeline's view of this function: one JSON route, at most 1 MiB.
pub const SPEC: Spec = Spec {
    name: "odoo_event_ingest",
    route: "/odoo_event_ingest",
    version: env!("CARGO_PKG_VERSION"),
    settings: settings::TABLE,
    max_body: MAX_BODY_BYTES,
    accepts: pipeline::json_only,
};

pulser_runtime::function!(SPEC, ingest);

async fn ingest(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<IngestError>> {
    // Only the secrets are read before the caller is authenticated: what else is
    // configured (or missing) is nobody else's business.
    let secrets = settings::secrets(platform)?;
    let verified = auth::verify(request.headers(), request.body(), &secrets, platform.now())?;
    let settings = Settings::from_platform(platform)?;

    let body: Value =
        serde_json::from_slice(request.body()).map_err(|e| Refusal::InvalidJson(e.to_string()))?;
    let default_correlation = if reply::is_uuid(correlation_id) {
        correlation_id.to_ascii_lowercase()
    } else {
        reply::uuid_v4(platform)
    };
    let identity = match verified.webhook_id.as_deref() {
        Some(id) => RequestIdentity::WebhookId(id),
        None => RequestIdentity::SignedBody(request.body()),
    };
    let events = event::parse(
        body,
        Defaults {
            correlation_id: &default_correlation,
            identity,
        },
    )
    .map_err(IngestError::InvalidEvents)?;

    let insert = audit::insert(&settings.db, &events.events)?;
    // `written`, not `succeeded`: an insert without an answer may have committed, so it is
    // reported as unknown, never as "nothing stored".
    let answer = pulser_supabase::written(platform.send(insert, POSTGREST_TIMEOUT).await)?;
    let stored = audit::outcomes(&events.events, answer.body())
        .map_err(|e| Refusal::StoreRejected(e.to_string()))?;

    let new = stored
        .iter()
        .filter(|s| matches!(s, Stored::New(_)))
        .count();
    platform.log(
        Level::Info,
        "odoo events ingested",
        &[
            ("stored", &new.to_string()),
            ("duplicates", &(stored.len() - new).to_string()),
            ("correlation_id", correlation_id),
        ],
    );
    if let Some(channel) = &settings.realtime_channel {
        announce(
            platform,
            channel,
            settings.broadcast,
            &events.events,
            &stored,
        )
        .await;
    }
    Ok(answer_for(&events, &stored))
}

/// The success answer, shaped like the request (one object or an array).
fn answer_for(events: &Events, stored: &[Stored]) -> Response {
    let items: Vec<Value> = events
        .events
        .iter()
        .zip(stored)
        .map(|(event, outcome)| match outcome {
            Stored::New(id) => json!({"id": id, "correlation_id": event.correlation_id}),
            Stored::Duplicate => json!({
                "duplicate": true,
                "event_id": event.event_id,
                "correlation_id": event.correlation_id,
            }),
        })
        .collect();
    let status = if stored.iter().any(|s| matches!(s, Stored::New(_))) {
        201
    } else {
        200
    };
    let body = match events.shape {
        Shape::One => items.into_iter().next().unwrap_or(Value::Null),
        Shape::Batch => Value::Array(items),
    };
    reply::json(status, &body)
}

/// Broadcasts the newly stored events on `channel` (`REALTIME_CHANNEL`). Failures are
/// logged, never returned: the events are already stored.
async fn announce(
    platform: &impl Platform,
    channel: &str,
    mode: settings::Broadcast,
    events: &[Event],
    stored: &[Stored],
) {
    let new: Vec<(&Event, i64)> = events
        .iter()
        .zip(stored)
        .filter_map(|(event, outcome)| match outcome {
            Stored::New(id) => Some((event, *id)),
            Stored::Duplicate => None,
        })
        .collect();
    if new.is_empty() {
        return;
    }
    let warn = |message: &str, detail: &str| {
        platform.log(Level::Warn, message, &[("detail", detail)]);
    };
    let (Some(url), Some(key)) = (
        config::SUPABASE_URL.optional(platform),
        config::SUPABASE_SERVICE_ROLE_KEY.optional(platform),
    ) else {
        warn(
            "realtime broadcast skipped",
            "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are both needed",
        );
        return;
    };
    let request = match broadcast::request(&url, &key, channel, mode, &new) {
        Ok(request) => request,
        Err(e) => return warn("realtime broadcast skipped", &e.to_string()),
    };
    match platform.send(request, BROADCAST_TIMEOUT).await {
        Ok(answer) if answer.status().is_success() => {}
        Ok(answer) => warn(
            "realtime broadcast failed",
            &format!("Realtime answered {}", answer.status().as_u16()),
        ),
        Err(e) => warn("realtime broadcast failed", &e.to_string()),
    }
}
