//! Everything `push_to_odoo` reads from its configuration, checked once per request.

use core::fmt;
use core::time::Duration;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::Setting;
use pulser_signing::SecretSet;
use pulser_supabase::{Postgrest, config};

use crate::action::AllowList;
use crate::odoo::Odoo;

/// HMAC secrets (comma-separated): the first signs requests to Odoo, any verifies direct calls.
pub const EDGE_HMAC_SECRET: Setting = Setting::secret("EDGE_HMAC_SECRET");
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

/// Every setting `push_to_odoo` reads.
pub const TABLE: &[Setting] = &[
    EDGE_HMAC_SECRET,
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
];

/// The checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// PostgREST.
    pub(crate) db: Postgrest,
    /// Odoo's apply endpoint, key, signer and timeout.
    pub(crate) odoo: Odoo,
    /// The secrets that verify direct calls (the same list that signs for Odoo).
    pub(crate) secrets: SecretSet,
    /// The bearer token for the database webhook and the drain, when configured.
    pub(crate) webhook_token: Option<WebhookToken>,
    /// Actions that may be pushed.
    pub(crate) actions: AllowList,
    /// [`OUTBOX_MAX_ATTEMPTS`].
    pub(crate) max_attempts: u32,
    /// [`OUTBOX_LEASE_SECS`].
    pub(crate) lease_secs: u64,
    /// [`OUTBOX_DRAIN_LIMIT`].
    pub(crate) drain_limit: usize,
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
        let timeout_ms = ODOO_TIMEOUT_MS.number(platform, 100..=120_000)?;
        let lease_secs = OUTBOX_LEASE_SECS.number(platform, 10..=86_400)?;
        if lease_secs.saturating_mul(1000) <= timeout_ms {
            return Err(OUTBOX_LEASE_SECS.invalid(&format_args!(
                "must be longer than {}",
                ODOO_TIMEOUT_MS.name
            )));
        }
        let odoo = Odoo::new(
            &ODOO_BASE_URL.read(platform)?,
            &ODOO_API_TOKEN.read(platform)?,
            secrets.clone(),
            Duration::from_millis(timeout_ms),
        )?;
        let db = Postgrest::from_platform(platform)?;
        let max_attempts = OUTBOX_MAX_ATTEMPTS.number(platform, 1..=100)?;
        let drain_limit = OUTBOX_DRAIN_LIMIT.number(platform, 1..=100)?;
        Ok(Self {
            db,
            odoo,
            secrets,
            webhook_token: PUSH_WEBHOOK_TOKEN.optional(platform).map(WebhookToken),
            actions: AllowList::with_extra(ODOO_ALLOWED_ACTIONS.optional(platform).as_deref()),
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
            lease_secs,
            drain_limit: usize::try_from(drain_limit).unwrap_or(usize::MAX),
        })
    }

    /// [`PUSH_WEBHOOK_TOKEN`], which the database webhook and the drain need.
    ///
    /// # Errors
    /// [`Refusal::MissingConfig`] when it is not configured.
    pub(crate) fn webhook_token(&self) -> Result<&WebhookToken, Refusal> {
        self.webhook_token
            .as_ref()
            .ok_or(Refusal::MissingConfig(PUSH_WEBHOOK_TOKEN.name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_runtime::testing::FakePlatform;

    use super::*;

    fn complete() -> FakePlatform {
        FakePlatform::new(0)
            .with_config(EDGE_HMAC_SECRET.name, "s1,s2")
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
        assert!(s.webhook_token.is_none());
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
        assert_eq!(s.webhook_token.unwrap().expose(), b"bearer-token");
    }

    #[test]
    fn each_required_setting_is_named_when_missing() {
        for name in [
            "EDGE_HMAC_SECRET",
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

    #[test]
    fn lease_shorter_than_the_timeout_is_invalid() {
        let p = complete()
            .with_config(OUTBOX_LEASE_SECS.name, "10")
            .with_config(ODOO_TIMEOUT_MS.name, "10000");
        let err = Settings::from_platform(&p).unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: "OUTBOX_LEASE_SECS",
                ..
            }
        ));
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
        assert!(!format!("{s:?}").contains("bearer-token"));
        assert!(!format!("{s:?}").contains("tok\""));
    }
}
