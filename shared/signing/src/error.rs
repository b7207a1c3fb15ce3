use core::fmt;

/// Why a signature, a secret or a signed request was rejected.
///
/// Each variant names the header at fault, so a caller can answer precisely without ever
/// echoing a secret or a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header that carries the signature (or its id/timestamp) is absent.
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },
    /// The header is present but cannot be parsed.
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header is well formed but no configured secret produced it.
    Mismatch {
        /// The header's name.
        header: &'static str,
    },
    /// The timestamp is older than the tolerance allows.
    TimestampTooOld {
        /// The header's name.
        header: &'static str,
    },
    /// The timestamp lies further in the future than the tolerance allows.
    TimestampInFuture {
        /// The header's name.
        header: &'static str,
    },
    /// A configured secret cannot be used (bad `whsec_` encoding, empty, too long).
    InvalidSecret {
        /// What is wrong with it (never the secret itself).
        reason: &'static str,
    },
    /// A secret list holds no secret at all.
    NoSecrets,
}

impl SignatureError {
    /// The header this error is about, if any.
    #[must_use]
    pub fn header(&self) -> Option<&'static str> {
        match *self {
            Self::MissingHeader { header }
            | Self::MalformedHeader { header, .. }
            | Self::Mismatch { header }
            | Self::TimestampTooOld { header }
            | Self::TimestampInFuture { header } => Some(header),
            Self::InvalidSecret { .. } | Self::NoSecrets => None,
        }
    }

    /// True when the error is about configuration, not about the request.
    #[must_use]
    pub fn is_config_error(&self) -> bool {
        matches!(self, Self::InvalidSecret { .. } | Self::NoSecrets)
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader { header } => write!(f, "missing header `{header}`"),
            Self::MalformedHeader { header, reason } => {
                write!(f, "malformed header `{header}`: {reason}")
            }
            Self::Mismatch { header } => write!(f, "signature in `{header}` does not match"),
            Self::TimestampTooOld { header } => {
                write!(f, "timestamp in `{header}` is too old")
            }
            Self::TimestampInFuture { header } => {
                write!(f, "timestamp in `{header}` is too far in the future")
            }
            Self::InvalidSecret { reason } => write!(f, "invalid secret: {reason}"),
            Self::NoSecrets => f.write_str("no secret configured"),
        }
    }
}

impl core::error::Error for SignatureError {}
