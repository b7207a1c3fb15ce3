//! Everything `push_to_odoo` reads from its configuration, checked once per request: the
//! one setting that authenticates the caller first ([`inbound_secrets`] or
//! [`webhook_token`]), then the rest ([`Settings`]).

use core::fmt;
use core::time::Duration;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::Setting;
use pulser_signing::SecretSet;
use pulser_supabase::{Postgrest, config};

use crate::action::AllowList;
use crate::delivery::POSTGREST_TIMEOUT;
use crate::odoo::Odoo;

/// HMAC secrets (comma-separated) that verify direct calls from Odoo; the same list
/// `odoo_event_ingest` verifies Odoo's events with.
pub const EDGE_HMAC_SECRET: Setting = Setting::secret("EDGE_HMAC_SECRET");
/// HMAC secrets (comma-separated) for the other direction: the first signs requests to Odoo.
/// No secret may also be in [`EDGE_HMAC_SECRET`], so a request signed for Odoo never
/// verifies when sent back to the edge.
pub const ODOO_SIGNING_SECRET: Setting = Setting::secret("ODOO_SIGNING_SECRET");
/// Odoo's base URL; requests go to `{ODOO_BASE_URL}/api/agent/apply`.
pub const ODOO_BASE_URL: Setting = Setting::required("ODOO_BASE_URL");
/// Sent to Odoo as `x-api-key`.
pub const ODOO_API_TOKEN: Setting = Setting::secret("ODOO_API_TOKEN");
/// The bearer token the Supabase database webhook and the drain scheduler send (needed by
/// those two callers only; a signed direct call works without it).
pub const PUSH_WEBHOOK_TOKEN: Setting = Setting::secret("PUSH_WEBHOOK_TOKEN");
/// Extra allowed action names, comma-separated.
pub const ODOO_ALLOWED_ACTIONS: Setting = Setting::default("ODOO_ALLOWED_ACTIONS", "");
/// Attempts after which a transient failure is final.
pub const OUTBOX_MAX_ATTEMPTS: Setting = Setting::default("OUTBOX_MAX_ATTEMPTS", "8");
/// Seconds after which a row stuck in `sent` is due again.
pub const OUTBOX_LEASE_SECS: Setting = Setting::default("OUTBOX_LEASE_SECS", "300");
/// Most rows one drain call handles.
pub const OUTBOX_DRAIN_LIMIT: Setting = Setting::default("OUTBOX_DRAIN_LIMIT", "10");
/// How long Odoo gets to answer, milliseconds.
pub const ODOO_TIMEOUT_MS: Setting = Setting::default("ODOO_TIMEOUT_MS", "10000");
/// How long the host lets one request run, milliseconds (the edge host's `timeout_ms` for
/// this component in spin.toml, a platform's wall-clock limit, or the caller's own timeout,
/// whichever is shortest). Every request is planned to finish within it.
pub const PUSH_DEADLINE_MS: Setting = Setting::default("PUSH_DEADLINE_MS", "40000");

/// Every setting `push_to_odoo` reads.
pub const TABLE: &[Setting] = &[
    EDGE_HMAC_SECRET,
    ODOO_SIGNING_SECRET,
    config::SUPABASE_URL,
    config::SUPABASE_REST_URL,
    config::SUPABASE_SERVICE_ROLE_KEY,
    ODOO_BASE_URL,
    ODOO_API_TOKEN,
    PUSH_WEBHOOK_TOKEN,
    ODOO_ALLOWED_ACTIONS,
    OUTBOX_MAX_ATTEMPTS,
    OUTBOX_LEASE_SECS,
    OUTBOX_DRAIN_LIMIT,
    ODOO_TIMEOUT_MS,
    PUSH_DEADLINE_MS,
];

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// PostgREST.
    pub(crate) db: Postgrest,
    /// Odoo's apply endpoint, key, signer and timeout.
    pub(crate) odoo: Odoo,
    /// Actions that may be pushed.
    pub(crate) actions: AllowList,
    /// [`OUTBOX_MAX_ATTEMPTS`].
    pub(crate) max_attempts: u32,
    /// [`OUTBOX_LEASE_SECS`].
    pub(crate) lease_secs: u64,
    /// [`OUTBOX_DRAIN_LIMIT`].
    pub(crate) drain_limit: usize,
    /// [`PUSH_DEADLINE_MS`], checked to hold a whole delivery.
    pub(crate) deadline: Duration,
}

/// [`PUSH_WEBHOOK_TOKEN`]; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub(crate) struct WebhookToken(String);

impl WebhookToken {
    /// The token's bytes, for the constant-time comparison only.
    #[must_use]
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken([redacted])")
    }
}

impl Settings {
    /// Reads and checks every setting.
    ///
    /// # Errors
    /// [`Refusal`] naming the first setting that is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let secrets = EDGE_HMAC_SECRET.parse(platform, SecretSet::parse)?;
        let signing = ODOO_SIGNING_SECRET.parse(platform, SecretSet::parse)?;
        if signing.overlaps(&secrets) {
            return Err(ODOO_SIGNING_SECRET.invalid(
                &"shares a secret with EDGE_HMAC_SECRET: a request signed for Odoo would verify when sent back to the edge",
            ));
        }
        let timeout_ms = ODOO_TIMEOUT_MS.number(platform, 100..=120_000)?;
        let deadline_ms = PUSH_DEADLINE_MS.number(platform, 1_000..=900_000)?;
        let lease_secs = OUTBOX_LEASE_SECS.number(platform, 10..=86_400)?;
        let plan = Plan {
            odoo_timeout: Duration::from_millis(timeout_ms),
            deadline: Duration::from_millis(deadline_ms),
            lease: Duration::from_secs(lease_secs),
        };
        plan.check()?;
        let odoo = Odoo::new(
            &ODOO_BASE_URL.read(platform)?,
            &ODOO_API_TOKEN.read(platform)?,
            signing,
            plan.odoo_timeout,
        )?;
        let db = Postgrest::from_platform(platform)?;
        let max_attempts = OUTBOX_MAX_ATTEMPTS.number(platform, 1..=100)?;
        let drain_limit = OUTBOX_DRAIN_LIMIT.number(platform, 1..=100)?;
        Ok(Self {
            db,
            odoo,
            actions: AllowList::with_extra(ODOO_ALLOWED_ACTIONS.optional(platform).as_deref()),
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
            lease_secs,
            drain_limit: usize::try_from(drain_limit).unwrap_or(usize::MAX),
            deadline: plan.deadline,
        })
    }
}

/// [`EDGE_HMAC_SECRET`], which verifies a direct call: read before anything else for it.
///
/// # Errors
/// [`Refusal`] naming it when it is missing or unusable.
pub(crate) fn inbound_secrets(platform: &impl Platform) -> Result<SecretSet, Refusal> {
    EDGE_HMAC_SECRET.parse(platform, SecretSet::parse)
}

/// [`PUSH_WEBHOOK_TOKEN`], which the database webhook and the drain authenticate with: read
/// before anything else for them.
///
/// # Errors
/// [`Refusal::MissingConfig`] when it is not configured.
pub(crate) fn webhook_token(platform: &impl Platform) -> Result<WebhookToken, Refusal> {
    PUSH_WEBHOOK_TOKEN
        .optional(platform)
        .map(WebhookToken)
        .ok_or(Refusal::MissingConfig(PUSH_WEBHOOK_TOKEN.name))
}

/// The three durations a push is planned with, checked against each other once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// [`ODOO_TIMEOUT_MS`].
    pub(crate) odoo_timeout: Duration,
    /// [`PUSH_DEADLINE_MS`].
    pub(crate) deadline: Duration,
    /// [`OUTBOX_LEASE_SECS`].
    pub(crate) lease: Duration,
}

impl Plan {
    /// The longest one request spends outside Odoo: a direct call's insert (or its
    /// duplicate's lookup), the claim and the outcome, each bounded by the PostgREST timeout.
    #[must_use]
    pub(crate) fn postgrest_share() -> Duration {
        POSTGREST_TIMEOUT.saturating_mul(3)
    }

    /// The longest one delivery takes: claim, Odoo, outcome.
    #[must_use]
    pub(crate) fn delivery(odoo_timeout: Duration) -> Duration {
        POSTGREST_TIMEOUT
            .saturating_mul(2)
            .saturating_add(odoo_timeout)
    }

    /// A push must fit the host's deadline with its slowest PostgREST calls and Odoo's whole
    /// timeout, or the host kills it between Odoo applying and the outcome being recorded;
    /// and the lease must outlast the deadline, or a drain reclaims a row whose delivery is
    /// still alive and Odoo gets it twice.
    ///
    /// # Errors
    /// [`Refusal::InvalidConfig`] naming the setting to change.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        if self.odoo_timeout.saturating_add(Self::postgrest_share()) > self.deadline {
            return Err(ODOO_TIMEOUT_MS.invalid(
                &"must leave 15000 ms of PUSH_DEADLINE_MS for PostgREST (3 calls of at most 5 s)",
            ));
        }
        if self.lease <= self.deadline {
            return Err(OUTBOX_LEASE_SECS.invalid(
                &"must be longer than PUSH_DEADLINE_MS, so a live delivery keeps its row",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_runtime::testing::FakePlatform;

    use super::*;

    fn complete() -> FakePlatform {
        FakePlatform::new(0)
            .with_config(
                EDGE_HMAC_SECRET.name,
                "inbound-secret-one,inbound-secret-two",
            )
            .with_config(ODOO_SIGNING_SECRET.name, "outbound-secret-one")
            .with_config(ODOO_BASE_URL.name, "http://odoo.test")
            .with_config(ODOO_API_TOKEN.name, "tok")
            .with_config("SUPABASE_URL", "http://db.test")
            .with_config("SUPABASE_SERVICE_ROLE_KEY", "key")
    }

    #[test]
    fn defaults() {
        let s = Settings::from_platform(&complete()).unwrap();
        assert_eq!(s.max_attempts, 8);
        assert_eq!(s.lease_secs, 300);
        assert_eq!(s.drain_limit, 10);
        assert_eq!(s.odoo.timeout(), Duration::from_secs(10));
        assert_eq!(s.deadline, Duration::from_secs(40));
        assert_eq!(
            webhook_token(&complete()).unwrap_err(),
            Refusal::MissingConfig("PUSH_WEBHOOK_TOKEN")
        );
    }

    #[test]
    fn overrides() {
        let p = complete()
            .with_config(OUTBOX_MAX_ATTEMPTS.name, "2")
            .with_config(OUTBOX_LEASE_SECS.name, "60")
            .with_config(OUTBOX_DRAIN_LIMIT.name, "3")
            .with_config(ODOO_TIMEOUT_MS.name, "500")
            .with_config(PUSH_WEBHOOK_TOKEN.name, "bearer-token");
        let s = Settings::from_platform(&p).unwrap();
        assert_eq!((s.max_attempts, s.lease_secs, s.drain_limit), (2, 60, 3));
        assert_eq!(s.odoo.timeout(), Duration::from_millis(500));
        assert_eq!(webhook_token(&p).unwrap().expose(), b"bearer-token");
    }

    #[test]
    fn each_required_setting_is_named_when_missing() {
        for name in [
            "EDGE_HMAC_SECRET",
            "ODOO_SIGNING_SECRET",
            "ODOO_BASE_URL",
            "ODOO_API_TOKEN",
            "SUPABASE_URL",
            "SUPABASE_SERVICE_ROLE_KEY",
        ] {
            let p = complete().with_config(name, "");
            assert_eq!(
                Settings::from_platform(&p).unwrap_err(),
                Refusal::MissingConfig(name),
                "{name}"
            );
        }
    }

    #[test]
    fn zero_max_attempts_is_invalid() {
        let err = Settings::from_platform(&complete().with_config(OUTBOX_MAX_ATTEMPTS.name, "0"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the setting OUTBOX_MAX_ATTEMPTS is invalid: must be a whole number from 1 to 100"
        );
    }

    #[test]
    fn non_numeric_drain_limit_is_invalid() {
        let err = Settings::from_platform(&complete().with_config(OUTBOX_DRAIN_LIMIT.name, "ten"))
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: "OUTBOX_DRAIN_LIMIT",
                ..
            }
        ));
    }

    fn invalid_name(p: &FakePlatform) -> &'static str {
        match Settings::from_platform(p).unwrap_err() {
            Refusal::InvalidConfig { name, .. } => name,
            other => panic!("expected invalid_config, got {other:?}"),
        }
    }

    #[test]
    fn the_postgrest_share_is_what_the_message_says() {
        assert_eq!(Plan::postgrest_share(), Duration::from_millis(15_000));
    }

    #[test]
    fn a_lease_within_the_deadline_is_invalid() {
        let p = complete()
            .with_config(OUTBOX_LEASE_SECS.name, "40")
            .with_config(PUSH_DEADLINE_MS.name, "40000");
        assert_eq!(invalid_name(&p), "OUTBOX_LEASE_SECS");
        let p = complete()
            .with_config(OUTBOX_LEASE_SECS.name, "41")
            .with_config(PUSH_DEADLINE_MS.name, "40000");
        assert!(Settings::from_platform(&p).is_ok());
    }

    #[test]
    fn an_odoo_timeout_that_leaves_postgrest_no_time_is_invalid() {
        // 25 s of Odoo + 3 x 5 s of PostgREST fit 40 s exactly; one more millisecond does not.
        let fits = complete().with_config(ODOO_TIMEOUT_MS.name, "25000");
        assert!(Settings::from_platform(&fits).is_ok());
        let over = complete().with_config(ODOO_TIMEOUT_MS.name, "25001");
        assert_eq!(invalid_name(&over), "ODOO_TIMEOUT_MS");
        // The 120 s the timeout allows needs a deadline (and lease) to match.
        let long = complete()
            .with_config(ODOO_TIMEOUT_MS.name, "120000")
            .with_config(PUSH_DEADLINE_MS.name, "135000");
        assert!(Settings::from_platform(&long).is_ok());
    }

    #[test]
    fn a_signing_secret_that_also_verifies_inbound_is_invalid() {
        let p = complete().with_config(
            ODOO_SIGNING_SECRET.name,
            "outbound-secret-one,inbound-secret-two",
        );
        let err = Settings::from_platform(&p).unwrap_err();
        assert_eq!(invalid_name(&p), "ODOO_SIGNING_SECRET");
        assert!(!err.to_string().contains("inbound-secret-two"), "{err}");
    }

    #[test]
    fn relative_odoo_url_is_invalid() {
        let err = Settings::from_platform(&complete().with_config(ODOO_BASE_URL.name, "odoo.test"))
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: "ODOO_BASE_URL",
                ..
            }
        ));
    }

    #[test]
    fn unusable_secret_is_invalid_without_its_value() {
        let err =
            Settings::from_platform(&complete().with_config(EDGE_HMAC_SECRET.name, "whsec_!!"))
                .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: "EDGE_HMAC_SECRET",
                ..
            }
        ));
        assert!(!err.to_string().contains("whsec_!!"));
    }

    #[test]
    fn token_debug_is_redacted() {
        let p = complete().with_config(PUSH_WEBHOOK_TOKEN.name, "bearer-token");
        let s = Settings::from_platform(&p).unwrap();
        assert!(!format!("{:?}", webhook_token(&p).unwrap()).contains("bearer-token"));
        assert!(!format!("{s:?}").contains("tok\""));
    }
}
