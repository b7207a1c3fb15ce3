//! Everything `oasis_events` reads from its configuration, checked once per request.

use core::time::Duration;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::{Need, Setting};
use pulser_supabase::{Postgrest, config};

/// Read keys for consoles and scripts (comma-separated, any matches, so a key can be
/// rotated). Empty: only Supabase access tokens are accepted.
pub const OASIS_READ_KEY: Setting = Setting {
    name: "OASIS_READ_KEY",
    need: Need::Default(""),
    secret: true,
};
/// The project's anon key, sent as `apikey` beside a caller's own access token (Supabase's
/// gateway requires it; a bare PostgREST ignores the header). Empty: the token itself.
pub const SUPABASE_ANON_KEY: Setting = Setting::default("SUPABASE_ANON_KEY", "");
/// Browser origins allowed to read (comma-separated, exact `scheme://host[:port]`). Empty:
/// no cross-origin reads; never a wildcard, since answers depend on credentials.
pub const OASIS_CORS_ORIGINS: Setting = Setting::default("OASIS_CORS_ORIGINS", "");
/// Requests per client per minute; `0` turns the limit off.
pub const OASIS_RATE_LIMIT: Setting = Setting::default("OASIS_RATE_LIMIT", "120");
/// How long the feed waits for something new before answering with nothing, ms.
pub const OASIS_FEED_WAIT_MS: Setting = Setting::default("OASIS_FEED_WAIT_MS", "5000");

/// The longest feed wait accepted: well inside every runtime's request deadline (the edge
/// host's default is 30 s).
pub const MAX_FEED_WAIT_MS: u64 = 20_000;

/// Every setting `oasis_events` reads.
pub const TABLE: &[Setting] = &[
    OASIS_READ_KEY,
    config::SUPABASE_URL,
    config::SUPABASE_REST_URL,
    config::SUPABASE_SERVICE_ROLE_KEY,
    SUPABASE_ANON_KEY,
    OASIS_CORS_ORIGINS,
    OASIS_RATE_LIMIT,
    OASIS_FEED_WAIT_MS,
];

/// The checked configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    /// PostgREST as the service role: used only for a caller that proved a read key.
    pub(crate) db: Postgrest,
    /// The read keys (none: access tokens only).
    pub(crate) read_keys: Vec<String>,
    /// `apikey` for a caller's own token.
    pub(crate) anon_key: Option<String>,
    /// Allowed browser origins.
    pub(crate) origins: Vec<String>,
    /// Requests per client per minute (0: off).
    pub(crate) rate_limit: u64,
    /// The feed's wait for something new.
    pub(crate) feed_wait: Duration,
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Settings {
    /// Reads and checks every setting.
    ///
    /// # Errors
    /// [`Refusal`] naming the first setting that is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let origins = list(&OASIS_CORS_ORIGINS.read(platform)?);
        if let Some(bad) = origins.iter().find(|o| !crate::cors::is_origin(o)) {
            let reason = if bad == "*" {
                "a wildcard is never allowed: list each console origin".to_owned()
            } else {
                format!("`{bad}` is not an origin (scheme://host[:port])")
            };
            return Err(OASIS_CORS_ORIGINS.invalid(&reason));
        }
        Ok(Self {
            db: Postgrest::from_platform(platform)?,
            read_keys: list(&OASIS_READ_KEY.read(platform)?),
            anon_key: SUPABASE_ANON_KEY.optional(platform),
            origins,
            rate_limit: OASIS_RATE_LIMIT.number(platform, 0..=1_000_000)?,
            feed_wait: Duration::from_millis(
                OASIS_FEED_WAIT_MS.number(platform, 0..=MAX_FEED_WAIT_MS)?,
            ),
        })
    }
}
