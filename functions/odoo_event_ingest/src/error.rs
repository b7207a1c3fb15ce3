//! The refusals of ingest beyond the shared ones ([`pulser_runtime::pipeline::Refusal`]).

use core::fmt;

use pulser_runtime::pipeline::{Details, Problem};

use crate::event::InvalidEvents;

/// Why an ingest request did not store its events, beyond the shared refusals.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum IngestError {
    /// The JSON is not a valid event or batch: 422 naming the field and, in a batch, the
    /// index.
    InvalidEvents(InvalidEvents),
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidEvents(e) => write!(f, "{e}"),
        }
    }
}

impl Problem for IngestError {
    fn status(&self) -> u16 {
        422
    }

    fn code(&self) -> &'static str {
        "invalid_event"
    }

    fn details(&self) -> Details {
        match self {
            Self::InvalidEvents(e) => Details {
                field: Some(e.field()),
                index: e.index(),
                ..Details::default()
            },
        }
    }
}
