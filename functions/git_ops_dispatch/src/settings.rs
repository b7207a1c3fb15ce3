//! Everything `git_ops_dispatch` reads from its configuration, checked once per request
//! before the request is looked at.

use core::fmt;

use pulser_runtime::Platform;
use pulser_runtime::pipeline::Refusal;
use pulser_runtime::settings::Setting;
use pulser_signing::SecretSet;
use pulser_supabase::{Postgrest, config};

use crate::github::{App, AppKey};
use crate::request::BranchPrefix;

/// The secrets Odoo signs with (comma-separated; any verifies).
pub const PULSER_WEBHOOK_SECRET: Setting = Setting::secret("PULSER_WEBHOOK_SECRET");
/// The GitHub App's id, the JWT's `iss`.
pub const GITHUB_APP_ID: Setting = Setting::unless("GITHUB_APP_ID", "GITHUB_CLIENT_ID");
/// Alternative issuer: the app's client id.
pub const GITHUB_CLIENT_ID: Setting = Setting::default("GITHUB_CLIENT_ID", "");
/// The installation whose token is used.
pub const GITHUB_INSTALLATION_ID: Setting = Setting::required("GITHUB_INSTALLATION_ID");
/// The app key: base64 of a PEM (PKCS#1 or PKCS#8), or the PEM itself.
pub const GITHUB_APP_PRIVATE_KEY_BASE64: Setting = Setting::secret("GITHUB_APP_PRIVATE_KEY_BASE64");
/// Repository owner.
pub const GITHUB_REPO_OWNER: Setting = Setting::required("GITHUB_REPO_OWNER");
/// Repository name.
pub const GITHUB_REPO_NAME: Setting = Setting::required("GITHUB_REPO_NAME");
/// The REST API's base.
pub const GITHUB_API_URL: Setting = Setting::default("GITHUB_API_URL", "https://api.github.com");
/// Where every git-ops branch must start (`gitops/`); empty admits any branch.
pub const GITOPS_BRANCH_PREFIX: Setting = Setting::default("GITOPS_BRANCH_PREFIX", "");

/// Every setting `git_ops_dispatch` reads.
pub const TABLE: &[Setting] = &[
    PULSER_WEBHOOK_SECRET,
    GITHUB_APP_ID,
    GITHUB_CLIENT_ID,
    GITHUB_INSTALLATION_ID,
    GITHUB_APP_PRIVATE_KEY_BASE64,
    GITHUB_REPO_OWNER,
    GITHUB_REPO_NAME,
    GITHUB_API_URL,
    GITOPS_BRANCH_PREFIX,
    config::SUPABASE_URL,
    config::SUPABASE_REST_URL,
    config::SUPABASE_SERVICE_ROLE_KEY,
];

/// The checked configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The GitHub App leg.
    pub(crate) app: App,
    /// Where git-ops branches must start.
    pub(crate) branch_prefix: BranchPrefix,
    /// PostgREST, where the `git_ops_dispatch` rows live.
    pub(crate) db: Postgrest,
}

/// [`PULSER_WEBHOOK_SECRET`] as configured; `Debug` prints `[redacted]`.
pub(crate) struct SharedSecrets(String);

impl SharedSecrets {
    /// Whether `sent` equals one of the secrets. Every secret is compared (no early exit),
    /// each with the one constant-time policy ([`pulser_signing::token_eq`]).
    pub(crate) fn contains(&self, sent: &[u8]) -> bool {
        self.0
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .fold(false, |found, secret| {
                pulser_signing::token_eq(secret.as_bytes(), sent) | found
            })
    }
}

impl fmt::Debug for SharedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecrets([redacted])")
    }
}

/// What authenticates a request ([`PULSER_WEBHOOK_SECRET`]), the only setting read before
/// the caller is authenticated.
#[derive(Debug)]
pub(crate) struct Credentials {
    /// The secrets that verify `X-Pulser-Signature`.
    pub(crate) secrets: SecretSet,
    /// The same secrets as configured, which `X-Pulser-Secret` must equal when sent.
    pub(crate) shared: SharedSecrets,
}

impl Credentials {
    /// Reads and checks [`PULSER_WEBHOOK_SECRET`].
    ///
    /// # Errors
    /// [`Refusal`] naming it when it is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let list = PULSER_WEBHOOK_SECRET.read(platform)?;
        let secrets = SecretSet::parse(&list).map_err(|e| PULSER_WEBHOOK_SECRET.invalid(&e))?;
        Ok(Self {
            secrets,
            shared: SharedSecrets(list),
        })
    }
}

impl Settings {
    /// Reads and checks every other setting, once the caller is authenticated.
    ///
    /// # Errors
    /// [`Refusal`] naming the first setting that is missing or unusable.
    pub(crate) fn from_platform(platform: &impl Platform) -> Result<Self, Refusal> {
        let app = App {
            issuer: GITHUB_APP_ID.read(platform)?,
            installation_id: GITHUB_INSTALLATION_ID.read(platform)?,
            key: GITHUB_APP_PRIVATE_KEY_BASE64.parse(platform, AppKey::from_setting)?,
            owner: GITHUB_REPO_OWNER.read(platform)?,
            repo: GITHUB_REPO_NAME.read(platform)?,
            api_url: GITHUB_API_URL
                .read(platform)?
                .trim_end_matches('/')
                .to_owned(),
        };
        Ok(Self {
            app,
            branch_prefix: GITOPS_BRANCH_PREFIX.parse(platform, BranchPrefix::from_setting)?,
            db: Postgrest::from_platform(platform)?,
        })
    }
}
