//! Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64> ...` over `{id}.{timestamp}.{body}`.

use core::fmt;

use hmac::Mac;

use crate::headers::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use crate::{Secret, SignatureError};

/// How far (seconds) `webhook-timestamp` may lie from `now`, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// The three Standard Webhooks headers of one request, as raw header values.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardWebhook<'a> {
    /// `webhook-id`, the message id (stable across retries).
    pub id: Option<&'a [u8]>,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: Option<&'a [u8]>,
    /// `webhook-signature`, one or more space-separated `v1,<base64>` entries.
    pub signature: Option<&'a [u8]>,
}

/// Upper bound on the signature entries looked at, so a hostile header costs little.
const MAX_ENTRIES: usize = 16;

/// The headers, checked for shape: id, timestamp and the decoded `v1` signatures.
pub(crate) struct Parsed<'a> {
    id: &'a [u8],
    timestamp_text: &'a [u8],
    timestamp: i64,
    candidates: [[u8; 32]; MAX_ENTRIES],
    count: usize,
}

impl<'a> StandardWebhook<'a> {
    /// True when the request carries any Standard Webhooks header, so the scheme applies.
    #[must_use]
    pub fn is_present(&self) -> bool {
        self.id.is_some() || self.timestamp.is_some() || self.signature.is_some()
    }

    /// The message id, once verified it is the idempotency key.
    #[must_use]
    pub fn id_str(&self) -> Option<&'a str> {
        self.id.and_then(|id| core::str::from_utf8(id).ok())
    }

    pub(crate) fn parse(&self) -> Result<Parsed<'a>, SignatureError> {
        let id = self
            .id
            .ok_or(SignatureError::MissingHeader { header: WEBHOOK_ID })?;
        if id.is_empty() || id.contains(&b'.') {
            return Err(SignatureError::MalformedHeader {
                header: WEBHOOK_ID,
                reason: "empty or contains '.'",
            });
        }
        let timestamp_text = self.timestamp.ok_or(SignatureError::MissingHeader {
            header: WEBHOOK_TIMESTAMP,
        })?;
        let timestamp = parse_unix_seconds(timestamp_text)?;
        let value = self.signature.ok_or(SignatureError::MissingHeader {
            header: WEBHOOK_SIGNATURE,
        })?;

        let mut parsed = Parsed {
            id,
            timestamp_text,
            timestamp,
            candidates: [[0; 32]; MAX_ENTRIES],
            count: 0,
        };
        for entry in value
            .split(|b| *b == b' ')
            .filter(|e| !e.is_empty())
            .take(MAX_ENTRIES)
        {
            let Some(encoded) = entry.strip_prefix(b"v1,") else {
                continue;
            };
            let mut buf = [0u8; 48];
            let Some(32) = crate::b64::decode_into(encoded, &mut buf) else {
                continue;
            };
            if let (Some(slot), Some(sig)) =
                (parsed.candidates.get_mut(parsed.count), buf.get(..32))
            {
                slot.copy_from_slice(sig);
                parsed.count += 1;
            }
        }
        if parsed.count == 0 {
            return Err(SignatureError::MalformedHeader {
                header: WEBHOOK_SIGNATURE,
                reason: "no well-formed v1,<base64 of 32 bytes> entry",
            });
        }
        Ok(parsed)
    }
}

fn parse_unix_seconds(text: &[u8]) -> Result<i64, SignatureError> {
    let malformed = |reason| SignatureError::MalformedHeader {
        header: WEBHOOK_TIMESTAMP,
        reason,
    };
    if text.first() == Some(&b'-') {
        return Err(malformed("negative timestamp"));
    }
    if text.is_empty() || text.len() > 18 || !text.iter().all(u8::is_ascii_digit) {
        return Err(malformed("expected unix seconds"));
    }
    Ok(text
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

impl Parsed<'_> {
    pub(crate) fn check_window(&self, now: i64) -> Result<(), SignatureError> {
        if now.saturating_sub(self.timestamp) > TOLERANCE_SECS {
            return Err(SignatureError::TimestampTooOld {
                header: WEBHOOK_TIMESTAMP,
            });
        }
        if self.timestamp.saturating_sub(now) > TOLERANCE_SECS {
            return Err(SignatureError::TimestampInFuture {
                header: WEBHOOK_TIMESTAMP,
            });
        }
        Ok(())
    }

    /// True when `secret` produced any of the candidate signatures (constant time per try).
    pub(crate) fn matches(&self, secret: &Secret, body: &[u8]) -> bool {
        let mut mac = secret.mac();
        mac.update(self.id);
        mac.update(b".");
        mac.update(self.timestamp_text);
        mac.update(b".");
        mac.update(body);
        self.candidates
            .iter()
            .take(self.count)
            .fold(false, |found, candidate| {
                mac.clone().verify_slice(candidate).is_ok() | found
            })
    }
}

impl Secret {
    /// The `webhook-signature` value (`v1,<base64>`) for a message.
    #[must_use]
    pub fn sign_standard(&self, id: &str, timestamp: i64, body: &[u8]) -> StandardSignature {
        let mut mac = self.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(itoa_buf(timestamp).as_bytes());
        mac.update(b".");
        mac.update(body);
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        let mut text = [0u8; 47];
        let (prefix, encoded) = text.split_at_mut(3);
        prefix.copy_from_slice(b"v1,");
        // 32 bytes are always 44 base64 characters, exactly the room left.
        let _ = crate::b64::encode_into(&tag, encoded);
        StandardSignature { text }
    }

    /// Verifies a Standard Webhooks request at time `now` (unix seconds, passed in: never
    /// read from a clock here), allowing [`TOLERANCE_SECS`] of skew either way.
    ///
    /// # Errors
    /// A missing or malformed header, a timestamp outside the window, or no matching signature.
    pub fn verify_standard(
        &self,
        webhook: &StandardWebhook<'_>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_with(webhook, body, Some(now), core::iter::once(self))
    }

    /// Verifies the signature only, for replaying stored messages; prefer
    /// [`Secret::verify_standard`] for live traffic.
    ///
    /// # Errors
    /// A missing or malformed header, or no matching signature.
    pub fn verify_standard_ignoring_timestamp(
        &self,
        webhook: &StandardWebhook<'_>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        verify_with(webhook, body, None, core::iter::once(self))
    }
}

/// Parses once, checks the window when `now` is given, then tries every secret (all of them,
/// so timing does not reveal which one matched).
pub(crate) fn verify_with<'s>(
    webhook: &StandardWebhook<'_>,
    body: &[u8],
    now: Option<i64>,
    secrets: impl Iterator<Item = &'s Secret>,
) -> Result<(), SignatureError> {
    let parsed = webhook.parse()?;
    if let Some(now) = now {
        parsed.check_window(now)?;
    }
    if secrets.fold(false, |found, secret| parsed.matches(secret, body) | found) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch {
            header: WEBHOOK_SIGNATURE,
        })
    }
}

/// Decimal digits of a timestamp without allocation.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

fn itoa_buf(value: i64) -> Digits {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    let negative = value < 0;
    let mut rest = value.unsigned_abs();
    loop {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || start == 1 {
            break;
        }
    }
    if negative {
        start -= 1;
        if let Some(slot) = buf.get_mut(start) {
            *slot = b'-';
        }
    }
    Digits { buf, start }
}

/// A `webhook-signature` value, `v1,<base64>`, held without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StandardSignature {
    text: [u8; 47],
}

impl StandardSignature {
    /// The header value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Display for StandardSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StandardSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StandardSignature({})", self.as_str())
    }
}
