//! Everything `push_to_odoo` reads from its configuration, checked once per request.

use core::fmt;
use core::time::Duration;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_signing::SecretSet;
use pulser_supabase::Postgrest;

use crate::action::AllowList;
use crate::odoo::Odoo;

/// HMAC secrets (comma-separated): the first signs requests to Odoo, any verifies direct calls.
pub const EDGE_HMAC_SECRET: &str = "EDGE_HMAC_SECRET";
/// Odoo's base URL; requests go to `{ODOO_BASE_URL}/api/agent/apply`.
pub const ODOO_BASE_URL: &str = "ODOO_BASE_URL";
/// Sent to Odoo as `x-api-key`.
pub const ODOO_API_TOKEN: &str = "ODOO_API_TOKEN";
/// The bearer token the Supabase database webhook and the drain scheduler send.
pub const PUSH_WEBHOOK_TOKEN: &str = "PUSH_WEBHOOK_TOKEN";
/// Extra allowed action names, comma-separated.
pub const ODOO_ALLOWED_ACTIONS: &str = "ODOO_ALLOWED_ACTIONS";
/// Attempts after which a transient failure is final (default 8).
pub const OUTBOX_MAX_ATTEMPTS: &str = "OUTBOX_MAX_ATTEMPTS";
/// Seconds after which a row stuck in `sent` is due again (default 300).
pub const OUTBOX_LEASE_SECS: &str = "OUTBOX_LEASE_SECS";
/// Most rows one drain call handles (default 10).
pub const OUTBOX_DRAIN_LIMIT: &str = "OUTBOX_DRAIN_LIMIT";
/// How long Odoo gets to answer, milliseconds (default 10000).
pub const ODOO_TIMEOUT_MS: &str = "ODOO_TIMEOUT_MS";

/// Default for [`OUTBOX_MAX_ATTEMPTS`].
pub const DEFAULT_MAX_ATTEMPTS: u64 = 8;
/// Default for [`OUTBOX_LEASE_SECS`].
pub const DEFAULT_LEASE_SECS: u64 = 300;
/// Default for [`OUTBOX_DRAIN_LIMIT`].
pub const DEFAULT_DRAIN_LIMIT: u64 = 10;
/// Default for [`ODOO_TIMEOUT_MS`].
pub const DEFAULT_ODOO_TIMEOUT_MS: u64 = 10_000;

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PostgREST.
    pub db: Postgrest,
    /// Odoo's apply endpoint, key, signer and timeout.
    pub odoo: Odoo,
    /// The secrets that verify direct calls (the same list that signs for Odoo).
    pub secrets: SecretSet,
    /// The bearer token for the database webhook and the drain, when configured.
    pub webhook_token: Option<WebhookToken>,
    /// Actions that may be pushed.
    pub actions: AllowList,
    /// [`OUTBOX_MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// [`OUTBOX_LEASE_SECS`].
    pub lease_secs: u64,
    /// [`OUTBOX_DRAIN_LIMIT`].
    pub drain_limit: usize,
}

/// [`PUSH_WEBHOOK_TOKEN`]; `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct WebhookToken(String);

impl WebhookToken {
    /// The token's bytes, for the constant-time comparison only.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
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
    pub fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let required = |name| platform.config(name).ok_or(Refusal::MissingConfig(name));
        let secrets =
            SecretSet::parse(&required(EDGE_HMAC_SECRET)?).map_err(|e| Refusal::InvalidConfig {
                name: EDGE_HMAC_SECRET,
                reason: e.to_string(),
            })?;
        let timeout_ms = number(
            platform,
            ODOO_TIMEOUT_MS,
            DEFAULT_ODOO_TIMEOUT_MS,
            100,
            120_000,
        )?;
        let lease_secs = number(platform, OUTBOX_LEASE_SECS, DEFAULT_LEASE_SECS, 10, 86_400)?;
        if lease_secs.saturating_mul(1000) <= timeout_ms {
            return Err(Refusal::InvalidConfig {
                name: OUTBOX_LEASE_SECS,
                reason: format!("must be longer than {ODOO_TIMEOUT_MS}"),
            });
        }
        let odoo = Odoo::new(
            &required(ODOO_BASE_URL)?,
            &required(ODOO_API_TOKEN)?,
            secrets.clone(),
            Duration::from_millis(timeout_ms),
        )
        .map_err(|e| Refusal::InvalidConfig {
            name: e.name,
            reason: e.reason.to_owned(),
        })?;
        let db = Postgrest::from_platform(platform).map_err(|e| Refusal::MissingConfig(e.0))?;
        let max_attempts = number(platform, OUTBOX_MAX_ATTEMPTS, DEFAULT_MAX_ATTEMPTS, 1, 100)?;
        let drain_limit = number(platform, OUTBOX_DRAIN_LIMIT, DEFAULT_DRAIN_LIMIT, 1, 100)?;
        Ok(Self {
            db,
            odoo,
            secrets,
            webhook_token: platform.config(PUSH_WEBHOOK_TOKEN).map(WebhookToken),
            actions: AllowList::with_extra(platform.config(ODOO_ALLOWED_ACTIONS).as_deref()),
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
            lease_secs,
            drain_limit: usize::try_from(drain_limit).unwrap_or(usize::MAX),
        })
    }
}

/// An optional decimal setting within `min..=max`.
fn number(
    platform: &impl Platform,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, Refusal> {
    let Some(text) = platform.config(name) else {
        return Ok(default);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| Refusal::InvalidConfig {
            name,
            reason: format!("must be a whole number from {min} to {max}"),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_runtime::testing::FakePlatform;

    use super::*;

    fn complete() -> FakePlatform {
        FakePlatform::new(0)
            .with_config(EDGE_HMAC_SECRET, "s1,s2")
            .with_config(ODOO_BASE_URL, "http://odoo.test")
            .with_config(ODOO_API_TOKEN, "tok")
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
            .with_config(OUTBOX_MAX_ATTEMPTS, "2")
            .with_config(OUTBOX_LEASE_SECS, "60")
            .with_config(OUTBOX_DRAIN_LIMIT, "3")
            .with_config(ODOO_TIMEOUT_MS, "500")
            .with_config(PUSH_WEBHOOK_TOKEN, "bearer-token");
        let s = Settings::from_platform(&p).unwrap();
        assert_eq!((s.max_attempts, s.lease_secs, s.drain_limit), (2, 60, 3));
        assert_eq!(s.odoo.timeout(), Duration::from_millis(500));
        assert_eq!(s.webhook_token.unwrap().expose(), b"bearer-token");
    }

    #[test]
    fn each_required_setting_is_named_when_missing() {
        for name in [
            EDGE_HMAC_SECRET,
            ODOO_BASE_URL,
            ODOO_API_TOKEN,
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
        let err =
            Settings::from_platform(&complete().with_config(OUTBOX_MAX_ATTEMPTS, "0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the setting OUTBOX_MAX_ATTEMPTS is invalid: must be a whole number from 1 to 100"
        );
    }

    #[test]
    fn non_numeric_drain_limit_is_invalid() {
        let err = Settings::from_platform(&complete().with_config(OUTBOX_DRAIN_LIMIT, "ten"))
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: OUTBOX_DRAIN_LIMIT,
                ..
            }
        ));
    }

    #[test]
    fn lease_shorter_than_the_timeout_is_invalid() {
        let p = complete()
            .with_config(OUTBOX_LEASE_SECS, "10")
            .with_config(ODOO_TIMEOUT_MS, "10000");
        let err = Settings::from_platform(&p).unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: OUTBOX_LEASE_SECS,
                ..
            }
        ));
    }

    #[test]
    fn relative_odoo_url_is_invalid() {
        let err = Settings::from_platform(&complete().with_config(ODOO_BASE_URL, "odoo.test"))
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: ODOO_BASE_URL,
                ..
            }
        ));
    }

    #[test]
    fn unusable_secret_is_invalid_without_its_value() {
        let err = Settings::from_platform(&complete().with_config(EDGE_HMAC_SECRET, "whsec_!!"))
            .unwrap_err();
        assert!(matches!(
            err,
            Refusal::InvalidConfig {
                name: EDGE_HMAC_SECRET,
                ..
            }
        ));
        assert!(!err.to_string().contains("whsec_!!"));
    }

    #[test]
    fn token_debug_is_redacted() {
        let p = complete().with_config(PUSH_WEBHOOK_TOKEN, "bearer-token");
        let s = Settings::from_platform(&p).unwrap();
        assert!(!format!("{s:?}").contains("bearer-token"));
        assert!(!format!("{s:?}").contains("tok\""));
    }
}
