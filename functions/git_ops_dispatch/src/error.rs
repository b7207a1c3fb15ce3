//! The refusals of a dispatch beyond the shared ones ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::Level;
use pulser_runtime::pipeline::{Details, Problem};

use crate::request::Invalid;

/// Why a request was not dispatched, beyond the shared refusals.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum DispatchError {
    /// A field failed validation: 422 naming it.
    Invalid(Invalid),
    /// The GitHub leg failed: 502 with GitHub's status, or 500 when the app key cannot sign.
    Github(GithubError),
}

/// Why the GitHub leg failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GithubError {
    /// The token exchange did not give a token: GitHub's status (None when unreachable) and
    /// its message.
    TokenExchange(Option<u16>, String),
    /// The dispatch was not accepted.
    Dispatch(Option<u16>, String),
    /// The JWT could not be made (a key problem).
    Jwt(String),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Github(GithubError::TokenExchange(_, m) | GithubError::Dispatch(_, m)) => {
                f.write_str(m)
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
            Self::Github(GithubError::Jwt(_)) => 500,
            Self::Github(_) => 502,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
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
            Self::Github(
                GithubError::TokenExchange(status, _) | GithubError::Dispatch(status, _),
            ) => Details {
                extra: Some(("github_status", (*status).into())),
                ..Details::default()
            },
            Self::Github(GithubError::Jwt(_)) => Details::default(),
        }
    }

    /// Every failure of the GitHub leg needs an operator.
    fn level(&self) -> Level {
        match self {
            Self::Invalid(_) => Level::Info,
            Self::Github(_) => Level::Error,
        }
    }
}
