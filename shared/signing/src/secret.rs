use core::fmt;

use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::SignatureError;
use crate::hex;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size: HMAC pads (or first hashes) every key to this length.
const BLOCK: usize = 64;
/// Largest decoded `whsec_` secret accepted (they are 24 to 64 bytes in practice).
const MAX_WHSEC_BYTES: usize = 256;
/// The prefix Standard Webhooks puts in front of a base64 secret.
pub(crate) const WHSEC_PREFIX: &str = "whsec_";
/// The prefix GitHub (and our hex legs) may put in front of a hex signature.
pub(crate) const SHA256_PREFIX: &str = "sha256=";

/// One HMAC-SHA256 secret, keyed once and reused for every signature.
///
/// Its `Debug` output is `[redacted]`; the key bytes never leave this value.
#[derive(Clone)]
pub struct Secret {
    mac: HmacSha256,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Secret {
    /// A secret from raw key bytes (any length, as HMAC allows).
    #[must_use]
    pub fn from_bytes(key: &[u8]) -> Self {
        // HMAC keys longer than a block are hashed first, shorter ones zero-padded (RFC 2104).
        // Doing that here makes construction infallible without an `expect`.
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let digest = Sha256::digest(key);
            for (slot, byte) in block.iter_mut().zip(digest.iter()) {
                *slot = *byte;
            }
        } else {
            for (slot, byte) in block.iter_mut().zip(key) {
                *slot = *byte;
            }
        }
        let mac = <HmacSha256 as hmac::digest::KeyInit>::new(GenericArray::from_slice(&block));
        Self { mac }
    }

    /// A secret from its configured text form.
    ///
    /// `whsec_<base64>` (Standard Webhooks) keys with the decoded bytes; anything else keys
    /// with its UTF-8 bytes as written, which is what GitHub and Odoo do.
    ///
    /// # Errors
    /// [`SignatureError::InvalidSecret`] for an empty secret or a `whsec_` secret that is not
    /// valid base64 (or decodes to more than 256 bytes).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        Self::parse_measured(text).map(|(secret, _)| secret)
    }

    /// [`Secret::parse`], also returning the key's length in bytes.
    pub(crate) fn parse_measured(text: &str) -> Result<(Self, usize), SignatureError> {
        if text.is_empty() {
            return Err(SignatureError::InvalidSecret {
                reason: "empty secret",
            });
        }
        let Some(encoded) = text.strip_prefix(WHSEC_PREFIX) else {
            return Ok((Self::from_bytes(text.as_bytes()), text.len()));
        };
        let mut buf = [0u8; MAX_WHSEC_BYTES];
        let len = crate::b64::decode_into(encoded.as_bytes(), &mut buf).ok_or(
            SignatureError::InvalidSecret {
                reason: "whsec_ secret is not valid base64",
            },
        )?;
        match buf.get(..len) {
            Some(key) if !key.is_empty() => Ok((Self::from_bytes(key), key.len())),
            _ => Err(SignatureError::InvalidSecret {
                reason: "whsec_ secret is empty",
            }),
        }
    }

    /// A MAC keyed with this secret, ready for input.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// HMAC-SHA256 of `body`.
    #[must_use]
    pub fn sign(&self, body: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The hex signature of `body`, as sent in `x-signature` or (with the prefix)
    /// `X-Hub-Signature-256` / `X-Pulser-Signature`.
    #[must_use]
    pub fn sign_hex(&self, body: &[u8]) -> HexSignature {
        let mut hex = [0u8; 64];
        hex::encode_into(&self.sign(body), &mut hex);
        HexSignature { hex }
    }

    /// Verifies a hex signature header over the raw `body`, in constant time.
    ///
    /// `value` is the header's raw value (or `None` when absent): 64 hex digits, optionally
    /// prefixed `sha256=`. `header` names it in the error.
    ///
    /// # Errors
    /// [`SignatureError::MissingHeader`], [`SignatureError::MalformedHeader`] (not 64 hex
    /// digits) or [`SignatureError::Mismatch`].
    pub fn verify_hex(
        &self,
        header: &'static str,
        value: Option<&[u8]>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let expected = parse_hex_header(header, value)?;
        self.verify_hex_parsed(header, &expected, body)
    }

    pub(crate) fn verify_hex_parsed(
        &self,
        header: &'static str,
        expected: &[u8; 32],
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(expected)
            .map_err(|_| SignatureError::Mismatch { header })
    }
}

/// Parses `[sha256=]<64 hex digits>` into the 32 signature bytes.
pub(crate) fn parse_hex_header(
    header: &'static str,
    value: Option<&[u8]>,
) -> Result<[u8; 32], SignatureError> {
    let value = value.ok_or(SignatureError::MissingHeader { header })?;
    let value = value.trim_ascii();
    let digits = value
        .strip_prefix(SHA256_PREFIX.as_bytes())
        .unwrap_or(value);
    if digits.is_empty() {
        return Err(SignatureError::MalformedHeader {
            header,
            reason: "empty signature",
        });
    }
    hex::decode_32(digits).ok_or(SignatureError::MalformedHeader {
        header,
        reason: "expected 64 hex digits of HMAC-SHA256",
    })
}

/// A hex HMAC-SHA256 signature, held without allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexSignature {
    hex: [u8; 64],
}

/// The SHA-256 of `bytes` as 64 lowercase hex digits (the same form as a hex signature): the
/// content address the functions deduplicate on when a sender gives no id of its own.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> HexSignature {
    let mut hex = [0u8; 64];
    hex::encode_into(&Sha256::digest(bytes).into(), &mut hex);
    HexSignature { hex }
}

impl HexSignature {
    /// The 64 lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        core::str::from_utf8(&self.hex).unwrap_or_default()
    }

    /// The GitHub form, `sha256=<hex>`.
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn prefixed(&self) -> alloc::string::String {
        let mut out = alloc::string::String::with_capacity(71);
        out.push_str(SHA256_PREFIX);
        out.push_str(self.as_str());
        out
    }
}

impl fmt::Display for HexSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexSignature({})", self.as_str())
    }
}
