use alloc::vec::Vec;
use core::fmt;

use crate::secret::parse_hex_header;
use crate::standard::verify_with;
use crate::{Secret, SignatureError, StandardWebhook};

/// The shortest key a configured secret may have, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// The secrets configured for one leg, for rotation: the first signs, any verifies.
///
/// Parsed from a comma-separated list (`new,old`); blanks around entries are ignored. Every
/// key must be at least [`MIN_SECRET_BYTES`] long: that refuses a guessable secret, and a
/// secret that contains a comma, which the list would otherwise split silently into pieces
/// (such a secret is given as `whsec_<base64>`).
#[derive(Clone)]
pub struct SecretSet {
    signer: Secret,
    others: Vec<Secret>,
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretSet([redacted; {}])", self.len())
    }
}

impl SecretSet {
    /// Parses `secret[,secret...]`; each entry as [`Secret::parse`], at least
    /// [`MIN_SECRET_BYTES`] long.
    ///
    /// # Errors
    /// [`SignatureError::NoSecrets`] when the list has no non-blank entry, or
    /// [`SignatureError::InvalidSecret`] for an entry that cannot be used.
    pub fn parse(list: &str) -> Result<Self, SignatureError> {
        let mut secrets = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| match Secret::parse_measured(entry)? {
                (secret, len) if len >= MIN_SECRET_BYTES => Ok(secret),
                _ => Err(SignatureError::InvalidSecret {
                    reason: "an entry is shorter than 16 bytes (a secret that contains a comma is split there: give it as whsec_<base64>)",
                }),
            });
        let signer = secrets.next().ok_or(SignatureError::NoSecrets)??;
        let others = secrets.collect::<Result<Vec<_>, _>>()?;
        Ok(Self { signer, others })
    }

    /// The secret that signs outgoing messages (the first in the list).
    #[must_use]
    pub fn signer(&self) -> &Secret {
        &self.signer
    }

    /// How many secrets verify.
    #[must_use]
    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    /// Always false: a set holds at least the signing secret.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether a secret of `self` is also in `other`: two legs that must not accept each
    /// other's signatures (inbound and outbound) check this at configuration time. Keys are
    /// compared by their MAC of a fixed message, since a [`Secret`] keeps no key bytes.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        const PROBE: &[u8] = b"pulser-edge secret identity";
        self.iter()
            .any(|a| other.iter().any(|b| a.sign(PROBE) == b.sign(PROBE)))
    }

    fn iter(&self) -> impl Iterator<Item = &Secret> {
        core::iter::once(&self.signer).chain(&self.others)
    }

    /// Verifies a hex signature header against every secret in the set.
    ///
    /// # Errors
    /// As [`Secret::verify_hex`]; `Mismatch` when no secret matches.
    pub fn verify_hex(
        &self,
        header: &'static str,
        value: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let expected = parse_hex_header(header, value)?;
        let matched = self.iter().fold(false, |found, s| {
            s.verify_hex_parsed(header, &expected, body).is_ok() | found
        });
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch { header })
        }
    }

    /// Verifies a Standard Webhooks request at `now` against every secret in the set.
    ///
    /// # Errors
    /// As [`Secret::verify_standard`].
    pub fn verify_standard(
        &self,
        webhook: &StandardWebhook<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_with(webhook, body, Some(now), self.iter())
    }

    /// Verifies a request signed in either scheme the Odoo legs accept: the Standard
    /// Webhooks headers when any of them is present (then the window applies at `now`), else
    /// the hex HMAC in `hex_header`. `header` looks a raw header value up by its lower-case
    /// name.
    ///
    /// # Errors
    /// The [`SignatureError`] naming the header at fault; a request with neither scheme is
    /// `MissingHeader { header: hex_header }`, and a half-present Standard Webhooks set is
    /// never rescued by a valid hex signature.
    pub fn verify_hex_or_standard<'h>(
        &self,
        hex_header: &'static str,
        header: impl Fn(&str) -> Option<&'h [u8]>,
        body: &[u8],
        now: i64,
    ) -> Result<Signed<'h>, SignatureError> {
        let standard = StandardWebhook {
            id: header(crate::headers::WEBHOOK_ID),
            timestamp: header(crate::headers::WEBHOOK_TIMESTAMP),
            signature: header(crate::headers::WEBHOOK_SIGNATURE),
        };
        if standard.is_present() {
            self.verify_standard(&standard, body, now)?;
            let id = standard.id_str().ok_or(SignatureError::MalformedHeader {
                header: crate::headers::WEBHOOK_ID,
                reason: "not UTF-8",
            })?;
            return Ok(Signed::Standard { id });
        }
        self.verify_hex(hex_header, header(hex_header), body)?;
        Ok(Signed::Hex)
    }
}

/// Which scheme proved a request (see [`SecretSet::verify_hex_or_standard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed<'h> {
    /// The hex HMAC header.
    Hex,
    /// Standard Webhooks; `id` (`webhook-id`) is stable across redeliveries, an idempotency key.
    Standard {
        /// The `webhook-id` header.
        id: &'h str,
    },
}
