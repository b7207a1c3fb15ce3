//! The refusals of a dispatch beyond the shared ones ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::Level;
use pulser_runtime::pipeline::{Details, Problem};

use crate::request::Invalid;
use crate::window::Stale;

/// Why a request was not dispatched, beyond the shared refusals.
#[derive(Debug)]
pub(crate) enum DispatchError {
    /// A field failed validation: 422 naming it.
    Invalid(Invalid),
    /// Signed outside the replay window: 401 `stale_request`.
    Stale(Stale),
    /// Another request with this `request_id` is being dispatched: 409.
    InProgress(String),
    /// The dispatch of this `request_id` may have reached GitHub: 409, never sent again.
    OutcomeUnknown(String),
    /// The GitHub leg failed: 502 with GitHub's status, or 500 when the app key cannot sign.
    Github(GithubError),
}

/// Why the GitHub leg failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GithubError {
    /// The token exchange did not give a token: GitHub's status (None when unreachable) and
    /// its message. No dispatch was sent.
    TokenExchange(Option<u16>, String),
    /// The dispatch was refused (GitHub's status), or never left (None).
    Dispatch(Option<u16>, String),
    /// The dispatch went out and no answer came back (timeout, connection lost): GitHub may
    /// have received it.
    DispatchUnanswered(String),
    /// The JWT could not be made (a key problem).
    Jwt(String),
}

/// Why a dispatch whose outcome is unknown is not sent again, and what the caller can do.
const NOT_SENT_AGAIN: &str = "GitHub may have received it, and repository_dispatch has no \
                              idempotency key, so it is not sent again; check the workflow \
                              runs, and use a new request_id to send it anew";

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Stale(e) => write!(f, "{e}"),
            Self::InProgress(id) => write!(
                f,
                "request_id {id} is being dispatched by another request right now; send it \
                 again in a few seconds to learn the outcome"
            ),
            Self::OutcomeUnknown(id) => write!(
                f,
                "the dispatch of request_id {id} got no answer from GitHub: {NOT_SENT_AGAIN}"
            ),
            Self::Github(GithubError::TokenExchange(_, m) | GithubError::Dispatch(_, m)) => {
                f.write_str(m)
            }
            Self::Github(GithubError::DispatchUnanswered(m)) => {
                write!(f, "{m}; {NOT_SENT_AGAIN}")
            }
            Self::Github(GithubError::Jwt(m)) => {
                write!(f, "the GitHub App JWT could not be made: {m}")
            }
        }
    }
}

impl Problem for DispatchError {
    fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 422,
            Self::Stale(_) => 401,
            Self::InProgress(_) | Self::OutcomeUnknown(_) => 409,
            Self::Github(GithubError::Jwt(_)) => 500,
            Self::Github(_) => 502,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::Stale(_) => "stale_request",
            Self::InProgress(_) => "dispatch_in_progress",
            Self::OutcomeUnknown(_) | Self::Github(GithubError::DispatchUnanswered(_)) => {
                "dispatch_outcome_unknown"
            }
            Self::Github(GithubError::Jwt(_)) => "invalid_config",
            Self::Github(GithubError::TokenExchange(..)) => "token_exchange_failed",
            Self::Github(GithubError::Dispatch(..)) => "dispatch_failed",
        }
    }

    fn details(&self) -> Details {
        match self {
            Self::Invalid(invalid) => Details {
                field: Some(invalid.field),
                ..Details::default()
            },
            Self::Stale(_) => Details {
                field: Some("timestamp"),
                ..Details::default()
            },
            Self::Github(
                GithubError::TokenExchange(status, _) | GithubError::Dispatch(status, _),
            ) => Details {
                extra: Some(("github_status", (*status).into())),
                ..Details::default()
            },
            Self::Github(GithubError::DispatchUnanswered(_)) => Details {
                extra: Some(("github_status", serde_json::Value::Null)),
                ..Details::default()
            },
            Self::InProgress(_) | Self::OutcomeUnknown(_) | Self::Github(GithubError::Jwt(_)) => {
                Details::default()
            }
        }
    }

    /// Every failure of the GitHub leg needs an operator; a stale signature may be a replay.
    fn level(&self) -> Level {
        match self {
            Self::Invalid(_) | Self::InProgress(_) => Level::Info,
            Self::Stale(_) | Self::OutcomeUnknown(_) => Level::Warn,
            Self::Github(_) => Level::Error,
        }
    }
}
