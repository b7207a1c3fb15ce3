//! The refusals of a push or drain beyond the shared ones
//! ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::pipeline::{Details, Problem};

use crate::trigger::InvalidBody;

/// Why a request did not complete, beyond the shared refusals.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum PushError {
    /// The body is not what the caller's kind sends: 400 when it is not JSON, else 422
    /// naming the field.
    InvalidBody(InvalidBody),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBody(e) => write!(f, "{e}"),
        }
    }
}

impl Problem for PushError {
    fn status(&self) -> u16 {
        match self {
            Self::InvalidBody(InvalidBody::Json(_)) => 400,
            Self::InvalidBody(_) => 422,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody(InvalidBody::Json(_)) => "invalid_json",
            Self::InvalidBody(_) => "invalid_body",
        }
    }

    fn details(&self) -> Details {
        match self {
            Self::InvalidBody(InvalidBody::Json(_)) => Details::default(),
            Self::InvalidBody(e) => Details {
                field: Some(e.field()),
                ..Details::default()
            },
        }
    }
}
