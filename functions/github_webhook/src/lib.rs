#![warn(missing_docs, unreachable_pub)]
//! `POST /webhooks/github`: GitHub deliveries into `oasis_events`, exactly once each.
//!
//! 1. `POST` only (405), `application/json` only (415), up to GitHub's 25 MB cap.
//! 2. `X-Hub-Signature-256` is verified over the raw bytes with `GITHUB_WEBHOOK_SECRET` (a
//!    rotation list) before anything is parsed: 401 otherwise.
//! 3. `X-GitHub-Event` and `X-GitHub-Delivery` are required (400 naming the header).
//! 4. `ping` answers `{"pong": true, "zen": ...}`; `workflow_run`, `check_run`,
//!    `pull_request` and `push` become one row ([`event::normalize`]): VTID ([`vtid`]),
//!    status ([`status`]), title, ref, link, meta; any other event is acknowledged with 202
//!    `{"ignored": "<event>"}`.
//! 5. One idempotent PostgREST insert keyed on the body's SHA-256 (`body_sha256`, the part
//!    of a delivery GitHub signs) and on `delivery_id`: a redelivery, or the same body under
//!    a new GUID, answers 200 `{"duplicate": true}` and writes nothing. PostgREST down: 503
//!    with `retry-after`; no answer to the insert: 503 `store_outcome_unknown` (GitHub's
//!    redelivery of the same body then stores it at most once).
//!
//! The secrets are read first, to authenticate the delivery; every other setting of
//! [`settings::TABLE`] after, so a missing or unusable one is a 500 naming it to an
//! authenticated caller only (an unauthenticated one gets 401).
//!
//! Refusals follow the shared contract ([`pulser_runtime::pipeline`]); the webhook's own are
//! in [`error::HookError`].

use core::time::Duration;

use pulser_runtime::pipeline::{self, Error, Refusal, Spec};
use pulser_runtime::{Level, Platform, Request, Response, reply};
use pulser_supabase::{Insert, Outcome};
use serde_json::{Value, json};

mod auth;
mod error;
pub mod event;
mod json;
pub mod settings;
mod status;
mod vtid;

use error::HookError;
use event::Kind;
use settings::Settings;

/// GitHub's cap on a delivery's size (every adapter refuses more with 413; the edge host's
/// own limit is raised to match in spin.toml).
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The event name header.
pub const X_GITHUB_EVENT: &str = "x-github-event";
/// The delivery GUID header (the same on a redelivery).
pub const X_GITHUB_DELIVERY: &str = "x-github-delivery";
/// Longest delivery id accepted (GitHub's are 36-character GUIDs).
pub const MAX_DELIVERY_ID_LEN: usize = 128;
/// How long PostgREST gets: GitHub gives the whole delivery 10 s.
pub const POSTGREST_TIMEOUT: Duration = Duration::from_secs(5);
/// The table rows go to.
pub const TABLE: &str = "oasis_events";

/// The pipeline's view of this function: one JSON route, up to GitHub's cap.
pub const SPEC: Spec = Spec {
    name: "github_webhook",
    route: "/webhooks/github",
    version: env!("CARGO_PKG_VERSION"),
    settings: settings::TABLE,
    max_body: MAX_BODY_BYTES,
    accepts: pipeline::json_only,
};

pulser_runtime::function!(SPEC, receive);

fn header<'r>(request: &'r Request, name: &'static str) -> Result<&'r str, Error<HookError>> {
    let value = request
        .headers()
        .get(name)
        .ok_or(HookError::MissingHeader(name))?;
    let value = value
        .to_str()
        .map_err(|_| HookError::InvalidHeader(name))?
        .trim();
    if value.is_empty() {
        return Err(HookError::MissingHeader(name).into());
    }
    Ok(value)
}

async fn receive(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, Error<HookError>> {
    // Only the secrets are read before the delivery is authenticated: what else is
    // configured (or missing) is nobody else's business.
    auth::verify(
        request.headers(),
        request.body(),
        &settings::secrets(platform)?,
    )?;
    let settings = Settings::from_platform(platform)?;

    let event = header(request, X_GITHUB_EVENT)?;
    let delivery = header(request, X_GITHUB_DELIVERY)?;
    if delivery.len() > MAX_DELIVERY_ID_LEN {
        return Err(HookError::InvalidHeader(X_GITHUB_DELIVERY).into());
    }
    if event == "ping" {
        let zen = event::ping_zen(request.body()).map_err(HookError::Malformed)?;
        return Ok(reply::json(200, &json!({"pong": true, "zen": zen})));
    }
    let Some(kind) = Kind::of(event) else {
        platform.log(
            Level::Info,
            "github event ignored",
            &[("event", event), ("delivery_id", delivery)],
        );
        return Ok(reply::json(202, &json!({"ignored": event})));
    };
    let mut row = event::normalize(kind, request.body(), delivery).map_err(HookError::Malformed)?;
    if let Some(fields) = row.as_object_mut() {
        let digest = pulser_signing::sha256_hex(request.body());
        fields.insert("body_sha256".into(), digest.as_str().into());
    }
    let insert = settings.db.insert(
        TABLE,
        row.to_string().into_bytes(),
        &Insert::ignore_duplicates("body_sha256").returning("id"),
    )?;
    let answer = platform.send(insert, POSTGREST_TIMEOUT).await;
    // The body's digest is the conflict target; the delivery id is unique too, and a second
    // body under a known GUID (only GitHub could sign one) is a 409 from that constraint:
    // also a delivery already stored.
    let conflict = matches!(&answer, Ok(r) if matches!(Outcome::of(r), Outcome::Conflict(_)));
    let id = if conflict {
        None
    } else {
        let answer = pulser_supabase::written(answer)?;
        let stored: Value = serde_json::from_slice(answer.body())
            .map_err(|_| Refusal::StoreRejected("PostgREST answered something not JSON".into()))?;
        stored
            .as_array()
            .and_then(|rows| rows.first())
            .and_then(|row| row.get("id"))
            .cloned()
    };
    let Some(id) = id else {
        platform.log(
            Level::Info,
            "github redelivery deduplicated",
            &[
                ("delivery_id", delivery),
                ("correlation_id", correlation_id),
            ],
        );
        return Ok(reply::json(
            200,
            &json!({"duplicate": true, "delivery_id": delivery}),
        ));
    };
    platform.log(
        Level::Info,
        "github event stored",
        &[
            ("event", event),
            ("delivery_id", delivery),
            ("correlation_id", correlation_id),
        ],
    );
    Ok(reply::json(
        201,
        &json!({
            "id": id,
            "delivery_id": delivery,
            "vtid": row.get("vtid"),
            "status": row.get("status"),
            "title": row.get("title"),
        }),
    ))
}
