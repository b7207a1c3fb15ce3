//! What a function reads from its configuration, declared once.
//!
//! Each function crate lists its settings in one table (`settings::TABLE`): the name (the
//! same upper-case name on every runtime), whether it is required or has a default, and
//! whether it is a secret. The reading helpers below take those declarations, so a default
//! lives in the table and nowhere else, and every refusal names the setting. A test in
//! `tests/` holds each table against spin.toml and wrangler.toml.

use core::fmt;

use crate::Platform;
use crate::pipeline::Refusal;

/// How a function needs a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Without it the function answers 500 `missing_config` naming it.
    Required,
    /// Required unless the named setting is configured (e.g. an app id or a client id).
    Unless(&'static str),
    /// Unset or empty means this value.
    Default(&'static str),
}

/// One setting of one function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The upper-case name (lower case in spin.toml).
    pub name: &'static str,
    /// Required, or its default.
    pub need: Need,
    /// A secret: never logged, never in an answer; on Workers set with `wrangler secret put`.
    pub secret: bool,
}

impl Setting {
    /// A required setting that is not a secret.
    #[must_use]
    pub const fn required(name: &'static str) -> Self {
        Self {
            name,
            need: Need::Required,
            secret: false,
        }
    }

    /// A required secret.
    #[must_use]
    pub const fn secret(name: &'static str) -> Self {
        Self {
            name,
            need: Need::Required,
            secret: true,
        }
    }

    /// A setting with a default (empty counts as unset).
    #[must_use]
    pub const fn default(name: &'static str, default: &'static str) -> Self {
        Self {
            name,
            need: Need::Default(default),
            secret: false,
        }
    }

    /// A setting required unless `other` is configured.
    #[must_use]
    pub const fn unless(name: &'static str, other: &'static str) -> Self {
        Self {
            name,
            need: Need::Unless(other),
            secret: false,
        }
    }

    /// The configured value; for a setting with a default, the default when unset.
    ///
    /// # Errors
    /// [`Refusal::MissingConfig`] for a required setting that is unset.
    pub fn read(&self, platform: &impl Platform) -> Result<String, Refusal> {
        match (platform.config(self.name), self.need) {
            (Some(value), _) => Ok(value),
            (None, Need::Default(default)) => Ok(default.to_owned()),
            (None, Need::Unless(other)) => platform
                .config(other)
                .ok_or(Refusal::MissingConfig(self.name)),
            (None, Need::Required) => Err(Refusal::MissingConfig(self.name)),
        }
    }

    /// The configured value, or `None` when unset (for a setting with an empty default).
    #[must_use]
    pub fn optional(&self, platform: &impl Platform) -> Option<String> {
        self.read(platform).ok().filter(|value| !value.is_empty())
    }

    /// [`Setting::read`], then `parse`; a parse error is `invalid_config` naming the
    /// setting. The reason must not contain the value (secrets go through here).
    ///
    /// # Errors
    /// [`Refusal::MissingConfig`] or [`Refusal::InvalidConfig`].
    pub fn parse<T, E: fmt::Display>(
        &self,
        platform: &impl Platform,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, Refusal> {
        parse(&self.read(platform)?).map_err(|e| self.invalid(&e))
    }

    /// A whole number within `range`, the default when unset.
    ///
    /// # Errors
    /// [`Refusal::InvalidConfig`] naming the setting and the range.
    pub fn number(
        &self,
        platform: &impl Platform,
        range: core::ops::RangeInclusive<u64>,
    ) -> Result<u64, Refusal> {
        let text = self.read(platform)?;
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                self.invalid(&format_args!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// [`Refusal::InvalidConfig`] naming this setting (not generic: one copy per component).
    #[must_use]
    pub fn invalid(&self, reason: &dyn fmt::Display) -> Refusal {
        Refusal::InvalidConfig {
            name: self.name,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::FakePlatform;

    const KEY: Setting = Setting::secret("KEY");
    const LIMIT: Setting = Setting::default("LIMIT", "10");
    const APP_ID: Setting = Setting::unless("APP_ID", "CLIENT_ID");

    #[test]
    fn a_required_setting_is_named_when_unset_or_empty() {
        assert_eq!(
            KEY.read(&FakePlatform::new(0)),
            Err(Refusal::MissingConfig("KEY"))
        );
        let empty = FakePlatform::new(0).with_config("KEY", "");
        assert_eq!(KEY.read(&empty), Err(Refusal::MissingConfig("KEY")));
    }

    #[test]
    fn a_default_comes_from_the_declaration() {
        assert_eq!(LIMIT.number(&FakePlatform::new(0), 1..=100), Ok(10));
        let set = FakePlatform::new(0).with_config("LIMIT", " 7 ");
        assert_eq!(LIMIT.number(&set, 1..=100), Ok(7));
    }

    #[test]
    fn a_number_out_of_range_names_the_range() {
        let p = FakePlatform::new(0).with_config("LIMIT", "0");
        assert_eq!(
            LIMIT.number(&p, 1..=100).unwrap_err().to_string(),
            "the setting LIMIT is invalid: must be a whole number from 1 to 100"
        );
    }

    #[test]
    fn an_alternative_stands_in_and_the_first_name_is_reported() {
        let p = FakePlatform::new(0).with_config("CLIENT_ID", "Iv1.x");
        assert_eq!(APP_ID.read(&p).unwrap(), "Iv1.x");
        assert_eq!(
            APP_ID.read(&FakePlatform::new(0)),
            Err(Refusal::MissingConfig("APP_ID"))
        );
    }

    #[test]
    fn a_parse_error_never_carries_the_value() {
        let p = FakePlatform::new(0).with_config("KEY", "hunter2");
        let err = KEY.parse(&p, |_| Err::<(), _>("not a key")).unwrap_err();
        assert_eq!(err.to_string(), "the setting KEY is invalid: not a key");
    }
}
