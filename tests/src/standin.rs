//! Strict stand-ins for the two services that cannot run here: Odoo's `/api/agent/apply`
//! and the two GitHub REST endpoints a GitHub App uses to send a `repository_dispatch`.
//!
//! They check the wire contract the way the real services do (and a little stricter where
//! our contract says so), record every call with the status they answered, and can be told
//! to fail. They verify signatures with their own code (hmac, rsa crates), never with
//! pulser-signing, so a bug there cannot hide itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::Exchange;
use crate::clock::{http_date, rfc3339, unix_now};
use crate::server::{HttpServer, Reply};

/// How the Odoo stand-in answers a request that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OdooMode {
    /// 200 `{"ok": true, ...}`.
    Ok,
    /// This status with a JSON error body.
    Fail(u16),
    /// Waits this long, then answers 200.
    Slow(Duration),
    /// Closes the connection without answering.
    Drop,
    /// Applies the action, then closes the connection without answering: the effect happened
    /// but the pulser side cannot know it.
    ApplyThenDrop,
    /// Answers this 3xx status with a `location` on the stand-in's own `/elsewhere`, which
    /// records the call like any other (so a followed redirect shows up in [`calls`]).
    ///
    /// [`calls`]: OdooStandIn::calls
    Redirect(u16),
    /// A fault mix for load tests, decided per call from `seed` and the call's number (so a
    /// run is reproducible): `fail_percent` of calls answer 503 without effect,
    /// `lose_answer_percent` apply and then drop the connection, the rest apply and answer.
    Flaky {
        /// Seeds the per-call decision.
        seed: u64,
        /// Calls answered 503, in percent.
        fail_percent: u64,
        /// Calls applied whose answer is lost, in percent.
        lose_answer_percent: u64,
    },
}

/// SplitMix64: a well-mixed value per call number, without a random-number crate.
/// Where GitHub Enterprise Server puts its REST API (`https://<host>/api/v3`).
pub const GHES_PREFIX: &str = "/api/v3";

pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Odoo's `/api/agent/apply`: checks `x-api-key`, the `x-signature` HMAC of the raw body
/// (lower-case hex, optional `sha256=`, made with the first secret of the list as the
/// pulser side signs), the Standard Webhooks headers (`webhook-id` = the idempotency key,
/// `webhook-timestamp` within 300 s, `webhook-signature` over `id.timestamp.body`), the JSON
/// shape, that `x-correlation-id` and `idempotency-key` match the body; then applies each
/// idempotency key once, as README's Odoo controller does: a key seen before answers 200
/// `{"ok": true, "duplicate": true}` and has no effect.
#[derive(Debug)]
pub struct OdooStandIn {
    server: HttpServer,
    mode: Arc<Mutex<OdooMode>>,
    effects: Arc<Mutex<Vec<String>>>,
}

impl OdooStandIn {
    /// Starts the stand-in with the API token and HMAC secret list Odoo is configured with.
    pub fn start(api_token: &str, hmac_secrets: &str) -> Self {
        let mode = Arc::new(Mutex::new(OdooMode::Ok));
        let (token, secret) = (
            api_token.to_owned(),
            hmac_secrets
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        );
        let current = Arc::clone(&mode);
        let effects = Arc::new(Mutex::new(Vec::new()));
        let applied = Arc::clone(&effects);
        let calls = std::sync::atomic::AtomicU64::new(0);
        let server = HttpServer::serve(None, move |exchange| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match check_odoo_request(exchange, &token, secret.as_bytes()) {
                Err(reply) => reply,
                Ok(body) => match current.lock().expect("lock").clone() {
                    OdooMode::Ok => apply_once(&applied, &body),
                    OdooMode::Fail(status) => Reply::json(
                        status,
                        &json!({"error": "stand_in_failure", "message": format!("told to fail with {status}")}),
                    ),
                    OdooMode::Slow(wait) => {
                        Reply::Delay(wait, Box::new(apply_once(&applied, &body)))
                    }
                    OdooMode::Drop => Reply::Drop,
                    OdooMode::Redirect(status) => Reply::Respond {
                        status,
                        headers: vec![("location".into(), "/elsewhere/api/agent/apply".into())],
                        body: Vec::new(),
                    },
                    OdooMode::ApplyThenDrop => {
                        let _ = apply_once(&applied, &body);
                        Reply::Drop
                    }
                    OdooMode::Flaky {
                        seed,
                        fail_percent,
                        lose_answer_percent,
                    } => {
                        let roll = mix(seed, n) % 100;
                        if roll < fail_percent {
                            Reply::json(
                                503,
                                &json!({"error": "stand_in_failure", "message": "flaky"}),
                            )
                        } else if roll < fail_percent + lose_answer_percent {
                            let _ = apply_once(&applied, &body);
                            Reply::Drop
                        } else {
                            apply_once(&applied, &body)
                        }
                    }
                },
            }
        });
        Self {
            server,
            mode,
            effects,
        }
    }

    /// The idempotency keys that took effect, in order: each at most once.
    pub fn effects(&self) -> Vec<String> {
        self.effects.lock().expect("lock").clone()
    }

    /// The base URL to configure as `ODOO_BASE_URL`.
    pub fn base_url(&self) -> String {
        self.server.url("")
    }

    /// Changes how later requests are answered.
    pub fn set_mode(&self, mode: OdooMode) {
        *self.mode.lock().expect("lock") = mode;
    }

    /// Every request so far, with the status it got (0 when dropped).
    pub fn calls(&self) -> Vec<Exchange> {
        self.server.recorded()
    }

    /// Bodies of the requests Odoo accepted and applied (2xx).
    pub fn applied(&self) -> Vec<Value> {
        self.calls()
            .iter()
            .filter(|c| (200..300).contains(&c.status))
            .map(Exchange::json)
            .collect()
    }
}

/// Applies `body` unless its idempotency key already took effect (the check and the record
/// under one lock, as a unique constraint would make them in Odoo's database).
fn apply_once(effects: &Mutex<Vec<String>>, body: &Value) -> Reply {
    let key = body["idempotency_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut effects = effects.lock().expect("lock");
    let duplicate = effects.contains(&key);
    if !duplicate {
        effects.push(key);
    }
    let mut answer =
        json!({"ok": true, "action": body["action"], "correlation_id": body["correlation_id"]});
    if duplicate {
        answer["duplicate"] = json!(true);
    }
    Reply::json(200, &answer)
}

fn odoo_error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({"error": "rejected", "message": message}))
}

fn check_odoo_request(exchange: &Exchange, token: &str, secret: &[u8]) -> Result<Value, Reply> {
    if exchange.path != "/api/agent/apply" {
        return Err(odoo_error(404, "no such route"));
    }
    if exchange.method != "POST" {
        return Err(odoo_error(405, "POST only"));
    }
    if exchange
        .header("content-type")
        .is_none_or(|v| v.split(';').next() != Some("application/json"))
    {
        return Err(odoo_error(415, "content-type must be application/json"));
    }
    if exchange.header("x-api-key") != Some(token) {
        return Err(odoo_error(401, "x-api-key missing or wrong"));
    }
    let Some(signature) = exchange.header("x-signature") else {
        return Err(odoo_error(401, "x-signature missing"));
    };
    let hex = signature.strip_prefix("sha256=").unwrap_or(signature);
    if hex != hmac_hex(secret, &exchange.body) {
        return Err(odoo_error(
            401,
            "x-signature does not match the body (lower-case hex HMAC-SHA256 of the raw bytes)",
        ));
    }
    check_standard_webhooks(exchange, secret)?;
    let body: Value =
        serde_json::from_slice(&exchange.body).map_err(|_| odoo_error(400, "body is not JSON"))?;
    let keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys.len() != 4
        || !body["action"].is_string()
        || !body["args"].is_object()
        || !body["correlation_id"].is_string()
        || !body["idempotency_key"].is_string()
    {
        return Err(odoo_error(
            400,
            "body must be exactly {action: string, args: object, correlation_id: string, idempotency_key: string}",
        ));
    }
    if exchange.header("idempotency-key") != body["idempotency_key"].as_str()
        || exchange.header("webhook-id") != body["idempotency_key"].as_str()
    {
        return Err(odoo_error(
            400,
            "idempotency-key and webhook-id must equal the body's idempotency_key",
        ));
    }
    if exchange.header("x-correlation-id") != body["correlation_id"].as_str() {
        return Err(odoo_error(
            400,
            "x-correlation-id must equal the body's correlation_id",
        ));
    }
    Ok(body)
}

/// The Standard Webhooks headers: `v1,` base64 HMAC-SHA256 of `id.timestamp.body`, the
/// timestamp within 300 s of this machine's clock.
fn check_standard_webhooks(exchange: &Exchange, secret: &[u8]) -> Result<(), Reply> {
    let (Some(id), Some(timestamp), Some(signature)) = (
        exchange.header("webhook-id"),
        exchange.header("webhook-timestamp"),
        exchange.header("webhook-signature"),
    ) else {
        return Err(odoo_error(
            401,
            "webhook-id, webhook-timestamp and webhook-signature are required",
        ));
    };
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| odoo_error(401, "webhook-timestamp is not unix seconds"))?;
    if crate::clock::unix_now().abs_diff(sent_at) > 300 {
        return Err(odoo_error(
            401,
            "webhook-timestamp is outside the 300 s window",
        ));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&exchange.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    if !signature.split(' ').any(|s| s == expected) {
        return Err(odoo_error(401, "webhook-signature does not match"));
    }
    Ok(())
}

/// Lower-case hex HMAC-SHA256.
pub fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the GitHub stand-in behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubMode {
    /// Follows the contract.
    Ok,
    /// The access-token endpoint answers this status (after its checks pass).
    FailTokens(u16),
    /// The dispatch endpoint answers this status (after its checks pass).
    FailDispatch(u16),
    /// Its clock runs this many seconds off the real one (JWT checks and `Date` use it).
    Skewed(i64),
    /// Follows the contract but issues tokens that expire in 30 s, so a client that keeps
    /// a minute's margin mints a new app JWT for every request (used to measure minting).
    ShortLivedTokens,
}

/// The GitHub App the stand-in knows.
#[derive(Debug, Clone)]
pub struct GithubApp {
    /// Numeric app id (one accepted `iss`).
    pub app_id: String,
    /// Client id (the other accepted `iss`).
    pub client_id: String,
    /// The one installation that exists.
    pub installation_id: String,
    /// The repository the app is installed on.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// The app's public key (SPKI PEM).
    pub public_key_pem: String,
}

struct GithubState {
    mode: GithubMode,
    /// token -> expiry (stand-in clock)
    tokens: HashMap<String, i64>,
}

/// `POST /app/installations/{id}/access_tokens` and `POST /repos/{owner}/{repo}/dispatches`.
pub struct GithubStandIn {
    server: HttpServer,
    state: Arc<Mutex<GithubState>>,
}

impl std::fmt::Debug for GithubStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubStandIn")
            .field("server", &self.server)
            .finish()
    }
}

/// Leeway the stand-in allows for `iat` in the future (GitHub allows little).
pub const IAT_LEEWAY_SECS: i64 = 30;

impl GithubStandIn {
    /// Starts the stand-in for `app`.
    pub fn start(app: GithubApp) -> Self {
        let key = VerifyingKey::<Sha256>::new(
            rsa::RsaPublicKey::from_public_key_pem(&app.public_key_pem)
                .expect("the GitHub App public key is an SPKI PEM"),
        );
        let state = Arc::new(Mutex::new(GithubState {
            mode: GithubMode::Ok,
            tokens: HashMap::new(),
        }));
        let shared = Arc::clone(&state);
        let counter = AtomicU64::new(1);
        let server = HttpServer::serve(None, move |exchange| {
            let mut state = shared.lock().expect("lock");
            let now = unix_now()
                + match state.mode {
                    GithubMode::Skewed(offset) => offset,
                    _ => 0,
                };
            let reply = github_route(exchange, &app, &key, &mut state, now, &counter);
            reply.with_header("date", &http_date(now))
        });
        Self { server, state }
    }

    /// The base URL to configure as `GITHUB_API_URL`.
    pub fn api_url(&self) -> String {
        self.server.url("")
    }

    /// Changes the behaviour for later requests.
    pub fn set_mode(&self, mode: GithubMode) {
        self.state.lock().expect("lock").mode = mode;
    }

    /// Every request so far, with the status it got.
    pub fn calls(&self) -> Vec<Exchange> {
        self.server.recorded()
    }

    /// Calls to the access-token endpoint that issued a token.
    pub fn tokens_issued(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.path.ends_with("/access_tokens") && c.status == 201)
            .count()
    }

    /// Bodies of the dispatches accepted (204).
    pub fn dispatches(&self) -> Vec<Value> {
        self.calls()
            .iter()
            .filter(|c| c.path.ends_with("/dispatches") && c.status == 204)
            .map(Exchange::json)
            .collect()
    }
}

fn github_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
    )
}

fn github_route(
    exchange: &Exchange,
    app: &GithubApp,
    key: &VerifyingKey<Sha256>,
    state: &mut GithubState,
    now: i64,
    counter: &AtomicU64,
) -> Reply {
    if let Err(reply) = check_api_headers(exchange) {
        return reply;
    }
    // GitHub Enterprise Server serves the same API below /api/v3.
    let path = exchange
        .path
        .strip_prefix(GHES_PREFIX)
        .unwrap_or(&exchange.path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (exchange.method.as_str(), segments.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if let Err(reply) = check_app_jwt(exchange, app, key, now) {
                return reply;
            }
            if *id != app.installation_id {
                return github_error(404, "Not Found");
            }
            if let Err(message) = check_token_scope(&exchange.body, app) {
                return github_error(422, &message);
            }
            if let GithubMode::FailTokens(status) = state.mode {
                return github_error(status, "stand-in told to fail the token exchange");
            }
            let token = format!("ghs_standin{:025}", counter.fetch_add(1, Ordering::SeqCst));
            let expires = now
                + if state.mode == GithubMode::ShortLivedTokens {
                    30
                } else {
                    3600
                };
            state.tokens.insert(token.clone(), expires);
            Reply::json(
                201,
                &json!({
                    "token": token,
                    "expires_at": rfc3339(expires),
                    "permissions": {"contents": "write"},
                    "repository_selection": "selected",
                }),
            )
        }
        ("POST", ["repos", owner, repo, "dispatches"]) => {
            let token = exchange.header("authorization").and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("token "))
            });
            match token.and_then(|t| state.tokens.get(t)) {
                Some(expires) if *expires > now => {}
                _ => return github_error(401, "Bad credentials"),
            }
            if *owner != app.owner || *repo != app.repo {
                return github_error(404, "Not Found");
            }
            if let Err(message) = check_dispatch_body(&exchange.body) {
                return github_error(422, &message);
            }
            if let GithubMode::FailDispatch(status) = state.mode {
                return github_error(status, "stand-in told to fail the dispatch");
            }
            Reply::empty(204)
        }
        _ => github_error(404, "Not Found"),
    }
}

fn check_api_headers(exchange: &Exchange) -> Result<(), Reply> {
    if exchange.header("user-agent").is_none_or(str::is_empty) {
        return Err(github_error(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    if exchange.header("accept") != Some("application/vnd.github+json") {
        return Err(github_error(
            415,
            "the pulser contract requires Accept: application/vnd.github+json",
        ));
    }
    if exchange.header("x-github-api-version") != Some("2022-11-28") {
        return Err(github_error(400, "X-GitHub-Api-Version must be 2022-11-28"));
    }
    Ok(())
}

fn check_app_jwt(
    exchange: &Exchange,
    app: &GithubApp,
    key: &VerifyingKey<Sha256>,
    now: i64,
) -> Result<(), Reply> {
    let unauthorized = |m: &str| Err(github_error(401, m));
    let Some(jwt) = exchange
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("A JSON web token could not be decoded");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return unauthorized("A JSON web token could not be decoded");
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header_json), Some(claims_json)) = (decode(header), decode(claims)) else {
        return unauthorized("A JSON web token could not be decoded");
    };
    if header_json["alg"] != "RS256" {
        return unauthorized("'alg' must be RS256");
    }
    let Some(signature) = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok())
    else {
        return unauthorized("A JSON web token could not be decoded");
    };
    if key
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .is_err()
    {
        return unauthorized("The JWT signature does not match the app's public key");
    }
    let iss = match &claims_json["iss"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return unauthorized("'Issuer' claim ('iss') must be the app id or client id"),
    };
    if iss != app.app_id && iss != app.client_id {
        return unauthorized("'Issuer' claim ('iss') must be the app id or client id");
    }
    let (Some(iat), Some(exp)) = (claims_json["iat"].as_i64(), claims_json["exp"].as_i64()) else {
        return unauthorized(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    };
    if iat > now + IAT_LEEWAY_SECS {
        return unauthorized(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    }
    if exp <= now {
        return unauthorized(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
    }
    if exp > now + 600 || exp - iat > 600 {
        return unauthorized("'Expiration time' claim ('exp') is too far in the future");
    }
    Ok(())
}

/// The pulser contract: every token is scoped to the app's one repository with only
/// `contents: write`. GitHub answers 422 to a scope the installation cannot grant; the
/// stand-in also refuses a missing or wider one, which GitHub would grant.
fn check_token_scope(body: &[u8], app: &GithubApp) -> Result<(), String> {
    let expected = json!({"repositories": [app.repo], "permissions": {"contents": "write"}});
    match serde_json::from_slice::<Value>(body) {
        Ok(scope) if scope == expected => Ok(()),
        Ok(_) => Err(format!(
            "the pulser contract requires the token body to be exactly {expected}"
        )),
        Err(_) if body.is_empty() => Err(format!(
            "the pulser contract requires a scoped token: send {expected}"
        )),
        Err(_) => Err("Problems parsing JSON".into()),
    }
}

fn check_dispatch_body(body: &[u8]) -> Result<(), String> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| "Problems parsing JSON".to_owned())?;
    let Some(event_type) = body["event_type"].as_str() else {
        return Err("Invalid request.\n\n\"event_type\" wasn't supplied.".into());
    };
    let length = event_type.chars().count();
    if length == 0 || length > 100 {
        return Err(format!(
            "Invalid request.\n\nevent_type is {length} characters; 1 to 100 allowed."
        ));
    }
    match &body["client_payload"] {
        Value::Null => {}
        Value::Object(map) => {
            if map.len() > 10 {
                return Err("Invalid request.\n\nNo more than 10 properties are allowed; client_payload has more.".into());
            }
            if Value::Object(map.clone()).to_string().len() >= 64 * 1024 {
                return Err("Invalid request.\n\nclient_payload is too large.".into());
            }
        }
        _ => return Err("Invalid request.\n\nclient_payload must be an object.".into()),
    }
    Ok(())
}
