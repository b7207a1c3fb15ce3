//! Everything `odoo_event_ingest` reads from its configuration: the secrets first, to
//! authenticate the caller, then the rest, checked once per request.

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::Setting;
use pulser_signing::SecretSet;
use pulser_supabase::{Postgrest, config};

/// The HMAC secrets Odoo signs with (comma-separated; any verifies).
pub const EDGE_HMAC_SECRET: Setting = Setting::secret("EDGE_HMAC_SECRET");
/// The Realtime channel stored events are broadcast on; empty: no broadcast.
pub const REALTIME_CHANNEL: Setting = Setting::default("REALTIME_CHANNEL", "");
/// What a broadcast carries: `private` (the stored row, as private messages only subscribers
/// the `realtime.messages` policies admit receive) or `ids` (a public message with the row's
/// id, event type and correlation id only; subscribers read the row through the API).
pub const REALTIME_PAYLOAD: Setting = Setting::default("REALTIME_PAYLOAD", "private");

/// What a Realtime broadcast carries ([`REALTIME_PAYLOAD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Broadcast {
    /// The stored row, on a private channel.
    PrivateRows,
    /// Ids only, on a public channel.
    PublicIds,
}

/// Every setting `odoo_event_ingest` reads.
pub const TABLE: &[Setting] = &[
    EDGE_HMAC_SECRET,
    config::SUPABASE_URL,
    config::SUPABASE_REST_URL,
    config::SUPABASE_SERVICE_ROLE_KEY,
    REALTIME_CHANNEL,
    REALTIME_PAYLOAD,
];

/// The secrets that verify a request ([`EDGE_HMAC_SECRET`]), the only setting read before
/// the caller is authenticated.
///
/// # Errors
/// [`Refusal`] naming it when it is missing or unusable.
pub(crate) fn secrets(platform: &impl Platform) -> Result<SecretSet, Refusal> {
    EDGE_HMAC_SECRET.parse(platform, SecretSet::parse)
}

/// The checked configuration, read once the caller is authenticated.
#[derive(Debug)]
pub(crate) struct Settings {
    /// PostgREST.
    pub(crate) db: Postgrest,
    /// [`REALTIME_CHANNEL`], when set.
    pub(crate) realtime_channel: Option<String>,
    /// [`REALTIME_PAYLOAD`].
    pub(crate) broadcast: Broadcast,
}

impl Settings {
    /// Reads and checks every setting.
    ///
    /// # Errors
    /// [`Refusal`] naming the first setting that is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        Ok(Self {
            db: Postgrest::from_platform(platform)?,
            realtime_channel: REALTIME_CHANNEL.optional(platform),
            broadcast: match REALTIME_PAYLOAD.read(platform)?.as_str() {
                "private" => Broadcast::PrivateRows,
                "ids" => Broadcast::PublicIds,
                _ => return Err(REALTIME_PAYLOAD.invalid(&"must be `private` or `ids`")),
            },
        })
    }
}
