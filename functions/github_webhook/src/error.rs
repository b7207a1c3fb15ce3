//! The refusals of a delivery beyond the shared ones ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::pipeline::{Details, Problem};

use crate::event::Malformed;

/// Why a delivery was not stored, beyond the shared refusals. All are 400: GitHub shows
/// them in the delivery's log, and a redelivery of the same bytes fails the same way.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum HookError {
    /// A required GitHub header is absent or empty.
    MissingHeader(&'static str),
    /// A GitHub header has a value that cannot be right.
    InvalidHeader(&'static str),
    /// The body does not match its event.
    Malformed(Malformed),
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(name) => write!(f, "the {name} header is required"),
            Self::InvalidHeader(name) => write!(f, "the {name} header is not valid"),
            Self::Malformed(e) => write!(f, "{e}"),
        }
    }
}

impl Problem for HookError {
    fn status(&self) -> u16 {
        400
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::InvalidHeader(_) => "invalid_header",
            Self::Malformed(_) => "malformed_payload",
        }
    }

    fn details(&self) -> Details {
        match self {
            Self::MissingHeader(name) | Self::InvalidHeader(name) => Details {
                header: Some(name),
                ..Details::default()
            },
            Self::Malformed(Malformed::MissingField(field)) => Details {
                field: Some(field),
                ..Details::default()
            },
            Self::Malformed(_) => Details::default(),
        }
    }
}
