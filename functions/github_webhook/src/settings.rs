//! Everything `github_webhook` reads from its configuration, checked once per delivery: the
//! secrets first, to authenticate it, then the rest.

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::Setting;
use pulser_signing::SecretSet;
use pulser_supabase::{Postgrest, config};

/// The webhook secrets (comma-separated; any verifies, so a secret can be rotated).
pub const GITHUB_WEBHOOK_SECRET: Setting = Setting::secret("GITHUB_WEBHOOK_SECRET");

/// Every setting `github_webhook` reads.
pub const TABLE: &[Setting] = &[
    GITHUB_WEBHOOK_SECRET,
    config::SUPABASE_URL,
    config::SUPABASE_REST_URL,
    config::SUPABASE_SERVICE_ROLE_KEY,
];

/// The secrets that verify `X-Hub-Signature-256` ([`GITHUB_WEBHOOK_SECRET`]), the only
/// setting read before the delivery is authenticated.
///
/// # Errors
/// [`Refusal`] naming it when it is missing or unusable.
pub(crate) fn secrets(platform: &impl Platform) -> Result<SecretSet, Refusal> {
    GITHUB_WEBHOOK_SECRET.parse(platform, SecretSet::parse)
}

/// The checked configuration, read once the delivery is authenticated.
#[derive(Debug)]
pub(crate) struct Settings {
    /// PostgREST.
    pub(crate) db: Postgrest,
}

impl Settings {
    /// Reads and checks every setting.
    ///
    /// # Errors
    /// [`Refusal`] naming the first setting that is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        Ok(Self {
            db: Postgrest::from_platform(platform)?,
        })
    }
}
