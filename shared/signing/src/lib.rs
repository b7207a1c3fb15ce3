#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod b64;
mod error;
mod hex;
mod secret;
#[cfg(feature = "alloc")]
mod set;
mod standard;
mod token;

#[cfg(feature = "jwt")]
pub mod github_app;

pub use error::SignatureError;
pub use secret::{HexSignature, Secret, sha256_hex};
#[cfg(feature = "alloc")]
pub use set::{MIN_SECRET_BYTES, SecretSet, Signed};
pub use standard::{StandardSignature, StandardWebhook, TOLERANCE_SECS};
pub use token::{BearerError, bearer_token, token_eq, verify_bearer};

/// Header names, lower case as HTTP/2 and every runtime here normalise them.
pub mod headers {
    /// Hex HMAC of the raw body on the Odoo legs.
    pub const X_SIGNATURE: &str = "x-signature";
    /// GitHub's webhook signature: `sha256=<hex>`.
    pub const X_HUB_SIGNATURE_256: &str = "x-hub-signature-256";
    /// Signature on requests from Odoo to `git_ops_dispatch`: `sha256=<hex>`.
    pub const X_PULSER_SIGNATURE: &str = "x-pulser-signature";
    /// Standard Webhooks message id (also the idempotency key).
    pub const WEBHOOK_ID: &str = "webhook-id";
    /// Standard Webhooks send time, unix seconds.
    pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
    /// Standard Webhooks signatures: `v1,<base64> v1,<base64> ...`.
    pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
}
