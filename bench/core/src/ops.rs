//! The ops: each is one request through a function's real handler (`handle`, the shared
//! pipeline around its flow) on a fresh [`FakePlatform`] whose scripted replies stand in for
//! PostgREST, GitHub and Odoo, so an op is the function's own work: verify the signature,
//! parse, plan, build each outbound request and read each reply. Plus the RS256 mint alone.
//!
//! Setting up an iteration (the platform, the request, a copy of the body) is not timed;
//! checking the answer is not timed either, and a wrong answer fails the op.

use std::time::{Duration, Instant};

use base64::Engine as _;
use pulser_runtime::testing::{FakePlatform, block_on};
use pulser_runtime::{Platform as _, Request, Response};
use pulser_signing::Secret;
use pulser_signing::github_app::{GithubAppKey, app_jwt_signing_input};
use serde_json::Value;

use crate::inputs;

/// The scripted clock: 2026-11-18T11:06:40Z.
const NOW: u64 = 1_795_000_000;
/// An hour after [`NOW`]: when scripted installation tokens expire.
const TOKEN_EXPIRES: &str = "2026-11-18T12:06:40Z";
const GITHUB_SECRET: &str = "bench-github-webhook-secret";
const ODOO_SECRET: &str = "bench-edge-hmac-secret";
const PULSER_SECRET: &str = "bench-pulser-webhook-secret";
const SERVICE_KEY: &str = "bench-service-role-key";
const PUSH_TOKEN: &str = "bench-push-webhook-token";
const APP_ID: &str = "424242";
const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
/// The caller's correlation id (a UUID, so no randomness is drawn for one).
const CORRELATION: &str = "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11";

/// The 20 KB push.
const PUSH_BYTES: usize = 20 * 1024;
/// The large push: 25 MB, under GitHub's cap (and the function's, 25 MiB).
const LARGE_PUSH_BYTES: usize = 25_000_000;
/// One Odoo event.
const EVENT_BYTES: usize = 1024;
/// The events in a batch: the most one request may carry.
const BATCH_EVENTS: usize = 500;

type Iteration = Box<dyn Fn() -> Result<Duration, String>>;

/// One measured operation.
pub(crate) struct Op {
    /// Its key in the report.
    pub(crate) name: &'static str,
    /// The request body's size (for `rs256_mint`, the signed JWT input's).
    pub(crate) bytes: usize,
    /// Runs with the large op's iteration count.
    pub(crate) large: bool,
    iteration: Iteration,
}

impl Op {
    /// One iteration: the timed part's duration, or why the answer was wrong.
    pub(crate) fn iterate(&self) -> Result<Duration, String> {
        (self.iteration)()
    }
}

/// Every op, inputs generated.
pub(crate) fn all() -> Result<Vec<Op>, String> {
    Ok(vec![
        github_push("github_push_20k", inputs::push_delivery(PUSH_BYTES)?, false)?,
        odoo_event_1k()?,
        odoo_batch_500()?,
        push_to_odoo_outbox_insert(),
        git_ops_token_cached()?,
        git_ops_token_minted()?,
        rs256_mint()?,
        github_push(
            "github_push_25m",
            inputs::push_delivery(LARGE_PUSH_BYTES)?,
            true,
        )?,
    ])
}

/// `f`'s result and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// `POST path` with `headers` and `body`.
fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Request, String> {
    let mut builder = http::Request::post(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.to_vec()).map_err(|e| e.to_string())
}

fn hex_signature(secret: &str, body: &[u8]) -> Result<String, String> {
    let secret = Secret::parse(secret).map_err(|e| e.to_string())?;
    Ok(secret.sign_hex(body).as_str().to_owned())
}

/// Checks the answer's status and the number of requests the function sent; on a mismatch,
/// says what came back.
fn expect(
    response: &Response,
    platform: &FakePlatform,
    status: u16,
    sent: usize,
) -> Result<Value, String> {
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    let got = (response.status().as_u16(), platform.sent().len());
    if got != (status, sent) || platform.unused_replies() != 0 {
        return Err(format!(
            "expected status {status} after {sent} outbound requests, got {} after {} \
             ({} scripted replies unused): {body}",
            got.0,
            got.1,
            platform.unused_replies()
        ));
    }
    Ok(body)
}

fn postgrest(platform: FakePlatform) -> FakePlatform {
    platform
        .with_config("SUPABASE_URL", "http://db.test")
        .with_config("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
}

/// `github_webhook`: a signed push delivery becomes one `oasis_events` insert (PostgREST
/// answers 201 with the row's id).
fn github_push(name: &'static str, body: Vec<u8>, large: bool) -> Result<Op, String> {
    let bytes = body.len();
    let signature = format!("sha256={}", hex_signature(GITHUB_SECRET, &body)?);
    let iteration = move || {
        let delivery = request(
            "/webhooks/github",
            &[
                ("content-type", "application/json"),
                ("x-github-event", "push"),
                ("x-github-delivery", DELIVERY),
                ("x-hub-signature-256", &signature),
            ],
            &body,
        )?;
        let platform = postgrest(FakePlatform::new(NOW))
            .with_config("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
            .reply(201, r#"[{"id":1}]"#);
        let (response, took) = timed(|| block_on(github_webhook::handle(delivery, &platform)));
        let answer = expect(&response, &platform, 201, 1)?;
        if answer.get("vtid").and_then(Value::as_str) != Some(inputs::PUSH_VTID) {
            return Err(format!(
                "the row does not carry the last commit's VTID: {answer}"
            ));
        }
        Ok(took)
    };
    Ok(Op {
        name,
        bytes,
        large,
        iteration: Box::new(iteration),
    })
}

/// `odoo_event_ingest`: a hex-signed body of `events` becomes one `audit_event` insert.
fn odoo_ingest(name: &'static str, body: String, events: usize) -> Result<Op, String> {
    let bytes = body.len();
    let stored = inputs::odoo_stored(events);
    let signature = hex_signature(ODOO_SECRET, body.as_bytes())?;
    let iteration = move || {
        let ingest = request(
            "/odoo_event_ingest",
            &[
                ("content-type", "application/json"),
                ("x-signature", &signature),
                ("x-correlation-id", CORRELATION),
            ],
            body.as_bytes(),
        )?;
        let platform = postgrest(FakePlatform::new(NOW))
            .with_config("EDGE_HMAC_SECRET", ODOO_SECRET)
            .reply(201, &stored);
        let (response, took) = timed(|| block_on(odoo_event_ingest::handle(ingest, &platform)));
        let answer = expect(&response, &platform, 201, 1)?;
        let answered = answer.as_array().map_or(1, Vec::len);
        if answered != events {
            return Err(format!("{answered} answers for {events} events"));
        }
        Ok(took)
    };
    Ok(Op {
        name,
        bytes,
        large: false,
        iteration: Box::new(iteration),
    })
}

fn odoo_event_1k() -> Result<Op, String> {
    odoo_ingest(
        "odoo_event_1k",
        inputs::odoo_event("bench-0", EVENT_BYTES),
        1,
    )
}

fn odoo_batch_500() -> Result<Op, String> {
    odoo_ingest(
        "odoo_batch_500",
        inputs::odoo_batch(BATCH_EVENTS, EVENT_BYTES),
        BATCH_EVENTS,
    )
}

/// `push_to_odoo`: Supabase's database webhook for a new outbox row; the row is claimed,
/// sent signed to Odoo, and recorded `applied` (three scripted replies).
fn push_to_odoo_outbox_insert() -> Op {
    let body = serde_json::json!({
        "type": "INSERT", "table": "odoo_action_outbox", "schema": "public",
        "record": {"id": 7, "action": "account.move.post", "args": {"id": 42}, "status": "queued", "attempts": 0},
        "old_record": null
    })
    .to_string();
    let claimed = serde_json::json!([{
        "id": 7, "action": "account.move.post", "args": {"id": 42}, "attempts": 0,
        "correlation_id": CORRELATION, "idempotency_key": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
    }])
    .to_string();
    let bytes = body.len();
    let bearer = format!("Bearer {PUSH_TOKEN}");
    let iteration = move || {
        let webhook = request(
            "/push_to_odoo",
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer),
                ("x-correlation-id", CORRELATION),
            ],
            body.as_bytes(),
        )?;
        let platform = postgrest(FakePlatform::new(NOW))
            .with_config("EDGE_HMAC_SECRET", ODOO_SECRET)
            .with_config("ODOO_SIGNING_SECRET", "bench-odoo-signing-secret")
            .with_config("ODOO_BASE_URL", "http://odoo.test")
            .with_config("ODOO_API_TOKEN", "bench-odoo-token")
            .with_config("PUSH_WEBHOOK_TOKEN", PUSH_TOKEN)
            .reply(200, &claimed)
            .reply(200, r#"{"ok":true}"#)
            .reply(200, r#"[{"id":7}]"#);
        let (response, took) = timed(|| block_on(push_to_odoo::handle(webhook, &platform)));
        let answer = expect(&response, &platform, 200, 3)?;
        if answer.get("status").and_then(Value::as_str) != Some("applied") {
            return Err(format!("the row was not applied: {answer}"));
        }
        Ok(took)
    };
    Op {
        name: "push_to_odoo_outbox_insert",
        bytes,
        large: false,
        iteration: Box::new(iteration),
    }
}

/// `GITHUB_APP_PRIVATE_KEY_BASE64` as deployments set it: base64 of the PEM.
fn app_key_setting() -> String {
    base64::engine::general_purpose::STANDARD.encode(inputs::APP_KEY_PEM)
}

/// The GitHub App JWT mint as `git_ops_dispatch` does it where the host has no native RSA
/// (WASI, Spin): the key parsed from its setting, then the RS256 signature.
fn rs256_mint() -> Result<Op, String> {
    let setting = app_key_setting();
    let bytes = app_jwt_signing_input(APP_ID, NOW)
        .map_err(|e| e.to_string())?
        .len();
    let iteration = move || {
        let (jwt, took) = timed(|| {
            GithubAppKey::from_setting(&setting).and_then(|key| key.mint_jwt(APP_ID, NOW))
        });
        let jwt = jwt.map_err(|e| e.to_string())?;
        if jwt.split('.').count() != 3 {
            return Err(format!("not a compact JWT: {jwt}"));
        }
        Ok(took)
    };
    Ok(Op {
        name: "rs256_mint",
        bytes,
        large: false,
        iteration: Box::new(iteration),
    })
}

/// The platform `git_ops_dispatch` is configured with, without replies.
fn git_ops_platform(key_setting: &str) -> FakePlatform {
    postgrest(FakePlatform::new(NOW))
        .with_config("PULSER_WEBHOOK_SECRET", PULSER_SECRET)
        .with_config("GITHUB_APP_ID", APP_ID)
        .with_config("GITHUB_INSTALLATION_ID", "31337")
        .with_config("GITHUB_APP_PRIVATE_KEY_BASE64", key_setting)
        .with_config("GITHUB_REPO_OWNER", "pulser")
        .with_config("GITHUB_REPO_NAME", "pulse-hub")
        .with_config("GITHUB_API_URL", "http://github.test")
}

/// A git-ops request body and its `x-pulser-signature`.
fn git_ops_signed(body: String) -> Result<(String, String), String> {
    let signature = format!("sha256={}", hex_signature(PULSER_SECRET, body.as_bytes())?);
    Ok((body, signature))
}

/// The git-ops request of `(body, signature)`.
fn git_ops_call((body, signature): &(String, String)) -> Result<Request, String> {
    request(
        "/pulser/git-ops",
        &[
            ("content-type", "application/json"),
            ("x-pulser-signature", signature),
            ("x-correlation-id", CORRELATION),
        ],
        body.as_bytes(),
    )
}

const ROW_INSERTED: &str = r#"[{"request_id":"bench-1"}]"#;
const ROW_RECORDED: &str = r#"[{"request_id":"bench-1"}]"#;

fn token_answer() -> String {
    format!(r#"{{"token":"ghs_bench","expires_at":"{TOKEN_EXPIRES}"}}"#)
}

/// How many of the requests sent were token exchanges.
fn exchanges(platform: &FakePlatform) -> usize {
    platform
        .sent()
        .iter()
        .filter(|s| s.url().ends_with("/access_tokens"))
        .count()
}

/// `git_ops_dispatch` with the installation token in the cache: the row is claimed, the
/// dispatch sent with the cached token, the outcome recorded (three scripted replies).
fn git_ops_token_cached() -> Result<Op, String> {
    let setting = app_key_setting();
    let signed = git_ops_signed(inputs::git_ops_request("bench-1", NOW))?;
    // The cache of a platform that served one request with a minted token, copied into each
    // iteration's platform (the cache's format stays the function's business).
    let primed = git_ops_platform(&setting)
        .reply(201, ROW_INSERTED)
        .reply(201, &token_answer())
        .reply(204, "")
        .reply(200, ROW_RECORDED);
    let response = block_on(git_ops_dispatch::handle(git_ops_call(&signed)?, &primed));
    expect(&response, &primed, 202, 4).map_err(|e| format!("priming the token cache: {e}"))?;
    let cache: Vec<(String, Vec<u8>)> = primed
        .cache_keys()
        .into_iter()
        .filter_map(|key| primed.cache_get(&key).map(|value| (key, value)))
        .collect();
    let bytes = signed.0.len();
    let iteration = move || {
        let call = git_ops_call(&signed)?;
        let platform = git_ops_platform(&setting)
            .reply(201, ROW_INSERTED)
            .reply(204, "")
            .reply(200, ROW_RECORDED);
        for (key, value) in &cache {
            platform.cache_put(key, value);
        }
        let (response, took) = timed(|| block_on(git_ops_dispatch::handle(call, &platform)));
        expect(&response, &platform, 202, 3)?;
        if exchanges(&platform) != 0 {
            return Err("the cached token was not used".into());
        }
        Ok(took)
    };
    Ok(Op {
        name: "git_ops_token_cached",
        bytes,
        large: false,
        iteration: Box::new(iteration),
    })
}

/// `git_ops_dispatch` with an empty cache: the row is claimed, an app JWT minted (RS256 in
/// Rust) and exchanged for an installation token, the dispatch sent, the outcome recorded
/// (four scripted replies).
fn git_ops_token_minted() -> Result<Op, String> {
    let setting = app_key_setting();
    let signed = git_ops_signed(inputs::git_ops_request("bench-1", NOW))?;
    let token = token_answer();
    let bytes = signed.0.len();
    let iteration = move || {
        let call = git_ops_call(&signed)?;
        let platform = git_ops_platform(&setting)
            .reply(201, ROW_INSERTED)
            .reply(201, &token)
            .reply(204, "")
            .reply(200, ROW_RECORDED);
        let (response, took) = timed(|| block_on(git_ops_dispatch::handle(call, &platform)));
        expect(&response, &platform, 202, 4)?;
        if exchanges(&platform) != 1 {
            return Err("no token was minted and exchanged".into());
        }
        Ok(took)
    };
    Ok(Op {
        name: "git_ops_token_minted",
        bytes,
        large: false,
        iteration: Box::new(iteration),
    })
}
