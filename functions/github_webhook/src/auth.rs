//! Who may deliver: GitHub, proven by `X-Hub-Signature-256: sha256=<hex>` over the raw body
//! with one of the webhook secrets, before anything parses it.

use pulser_runtime::pipeline::Refusal;
use pulser_runtime::reply;
use pulser_signing::{SecretSet, headers};

/// Verifies `X-Hub-Signature-256` against every secret of the set.
///
/// # Errors
/// [`Refusal::Unauthorized`] naming the header.
pub(crate) fn verify(
    request_headers: &http::HeaderMap,
    body: &[u8],
    secrets: &SecretSet,
) -> Result<(), Refusal> {
    let sent = reply::header(request_headers, headers::X_HUB_SIGNATURE_256);
    Ok(secrets.verify_hex(headers::X_HUB_SIGNATURE_256, sent, body)?)
}
