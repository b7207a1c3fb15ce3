//! The refusals of a read beyond the shared ones ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::Level;
use pulser_runtime::pipeline::{Details, Problem};

/// Why a read was refused, beyond the shared refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum OasisError {
    /// Not `GET`, `HEAD` or a CORS preflight.
    MethodNotAllowed,
    /// A query parameter this route does not take.
    UnknownParameter(String),
    /// A query parameter with a value it cannot have; says what it may be.
    InvalidParameter(&'static str, &'static str),
    /// `Last-Event-ID` is not an event id of this feed.
    InvalidLastEventId,
    /// The browser's `Origin` is not one of `OASIS_CORS_ORIGINS`.
    OriginNotAllowed,
    /// The client spent its requests for this minute.
    RateLimited,
    /// PostgREST refused the caller's own access token (expired, wrong project, a role that
    /// may not read).
    TokenRefused(u16),
}

impl fmt::Display for OasisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MethodNotAllowed => {
                f.write_str("this route accepts GET, HEAD and OPTIONS (a CORS preflight) only")
            }
            Self::UnknownParameter(name) => write!(
                f,
                "unknown query parameter `{name}`; this route takes {}",
                crate::query::PARAMETERS
            ),
            Self::InvalidParameter(name, what) => write!(f, "`{name}` must be {what}"),
            Self::InvalidLastEventId => {
                f.write_str("Last-Event-ID must be an event id this feed sent")
            }
            Self::OriginNotAllowed => {
                f.write_str("this origin may not read OASIS events (see OASIS_CORS_ORIGINS)")
            }
            Self::RateLimited => f.write_str("too many requests from this client; wait a minute"),
            Self::TokenRefused(status) => write!(
                f,
                "Supabase refused the access token in `authorization` ({status}): sign in again"
            ),
        }
    }
}

impl Problem for OasisError {
    fn status(&self) -> u16 {
        match self {
            Self::UnknownParameter(_) | Self::InvalidParameter(..) | Self::InvalidLastEventId => {
                400
            }
            Self::TokenRefused(_) => 401,
            Self::MethodNotAllowed => 405,
            Self::OriginNotAllowed => 403,
            Self::RateLimited => 429,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownParameter(_) => "unknown_parameter",
            Self::InvalidParameter(..) | Self::InvalidLastEventId => "invalid_parameter",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::TokenRefused(_) => "unauthorized",
        }
    }

    fn details(&self) -> Details {
        match self {
            Self::InvalidParameter(name, _) => Details {
                field: Some(name),
                ..Details::default()
            },
            Self::InvalidLastEventId => Details {
                header: Some("last-event-id"),
                ..Details::default()
            },
            Self::TokenRefused(_) => Details {
                header: Some("authorization"),
                ..Details::default()
            },
            _ => Details::default(),
        }
    }

    fn level(&self) -> Level {
        match self {
            Self::RateLimited | Self::OriginNotAllowed | Self::TokenRefused(_) => Level::Warn,
            _ => Level::Info,
        }
    }
}
