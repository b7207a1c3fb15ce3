#![warn(missing_docs)]
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
//! 5. One idempotent PostgREST insert keyed on `delivery_id`: a redelivery answers 200
//!    `{"duplicate": true}` and writes nothing. PostgREST down: 503 with `retry-after`.
//!
//! Errors are mapped in one place, [`error::HookError::into_response`].

use core::time::Duration;

use pulser_runtime::{Level, Platform, Request, Response, reply};
use pulser_signing::{SecretSet, headers};
use pulser_supabase::{Insert, Postgrest, StoreError, config};
use serde_json::{Value, json};

pub mod error;
pub mod event;
pub mod json;
pub mod status;
pub mod vtid;

use error::HookError;
use event::Kind;

/// GitHub's cap on a delivery's size (every adapter refuses more with 413; the edge host's
/// own limit is raised to match in spin.toml).
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

pulser_runtime::export!(handle, max_body = MAX_BODY_BYTES);

/// Setting: the webhook secrets (comma-separated; any verifies).
pub const GITHUB_WEBHOOK_SECRET: &str = "GITHUB_WEBHOOK_SECRET";
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

/// The endpoint; every answer carries `x-correlation-id`.
pub async fn handle(request: Request, platform: &impl Platform) -> Response {
    let correlation_id = reply::correlation_id(&request, platform);
    let response = match receive(&request, platform, &correlation_id).await {
        Ok(response) => response,
        Err(error) => {
            platform.log(
                error.level(),
                "github_webhook refused a delivery",
                &[
                    ("error", error.code()),
                    ("message", &error.to_string()),
                    ("correlation_id", &correlation_id),
                ],
            );
            error.into_response()
        }
    };
    reply::with_correlation_id(response, &correlation_id)
}

fn header<'r>(request: &'r Request, name: &'static str) -> Result<&'r str, HookError> {
    let value = request
        .headers()
        .get(name)
        .ok_or(HookError::MissingHeader(name))?;
    let value = value
        .to_str()
        .map_err(|_| HookError::InvalidHeader(name))?
        .trim();
    if value.is_empty() {
        return Err(HookError::MissingHeader(name));
    }
    Ok(value)
}

async fn receive(
    request: &Request,
    platform: &impl Platform,
    correlation_id: &str,
) -> Result<Response, HookError> {
    if request.method() != http::Method::POST {
        return Err(HookError::MethodNotAllowed);
    }
    if !reply::is_json(request) {
        return Err(HookError::UnsupportedMediaType);
    }
    let secrets = platform
        .config(GITHUB_WEBHOOK_SECRET)
        .ok_or(HookError::MissingConfig(GITHUB_WEBHOOK_SECRET))?;
    let secrets = SecretSet::parse(&secrets).map_err(|e| HookError::InvalidConfig {
        name: GITHUB_WEBHOOK_SECRET,
        reason: e.to_string(),
    })?;
    secrets
        .verify_hex(
            headers::X_HUB_SIGNATURE_256,
            request
                .headers()
                .get(headers::X_HUB_SIGNATURE_256)
                .map(http::HeaderValue::as_bytes),
            request.body(),
        )
        .map_err(HookError::Unauthorized)?;

    let event = header(request, X_GITHUB_EVENT)?;
    let delivery = header(request, X_GITHUB_DELIVERY)?;
    if delivery.len() > MAX_DELIVERY_ID_LEN {
        return Err(HookError::InvalidHeader(X_GITHUB_DELIVERY));
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
    let row = event::normalize(kind, request.body(), delivery).map_err(HookError::Malformed)?;
    let db = Postgrest::from_platform(platform).map_err(|e| HookError::MissingConfig(e.0))?;
    let insert = db
        .insert(
            TABLE,
            row.to_string().into_bytes(),
            &Insert::ignore_duplicates("delivery_id").returning("id"),
        )
        .map_err(|e| HookError::InvalidConfig {
            name: config::SUPABASE_URL,
            reason: e.to_string(),
        })?;
    let answer = pulser_supabase::succeeded(platform.send(insert, POSTGREST_TIMEOUT).await)
        .map_err(|e| match e {
            StoreError::Rejected(message) => HookError::StoreRejected(message),
            other => HookError::StoreUnavailable(other.to_string()),
        })?;
    let stored: Value = serde_json::from_slice(answer.body())
        .map_err(|_| HookError::StoreRejected("PostgREST answered something not JSON".into()))?;
    let id = stored
        .as_array()
        .and_then(|rows| rows.first())
        .and_then(|row| row.get("id"))
        .cloned();
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
