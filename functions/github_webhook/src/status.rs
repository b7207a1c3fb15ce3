//! GitHub's run, check and pull-request states mapped to the five `oasis_events` statuses.

/// The `oasis_events.status` values (the migration's check constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Waiting to run.
    Queued,
    /// Running, or a pull request under work.
    InProgress,
    /// Completed successfully, or merged.
    Success,
    /// Completed unsuccessfully.
    Failure,
    /// Cancelled, skipped, stale, or closed without merging.
    Cancelled,
}

impl Status {
    /// The column value.
    #[must_use]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A workflow run or check run: `status` and, once completed, `conclusion`. A completed run
/// with a conclusion outside GitHub's documented set counts as a failure (never as success);
/// `neutral` counts as success, as GitHub treats it for required checks.
#[must_use]
pub(crate) fn of_run(status: Option<&str>, conclusion: Option<&str>) -> Status {
    match status {
        Some("in_progress") => Status::InProgress,
        Some("completed") => match conclusion {
            Some("success" | "neutral") => Status::Success,
            Some("cancelled" | "skipped" | "stale") => Status::Cancelled,
            _ => Status::Failure,
        },
        // queued, requested, waiting, pending, and anything new: not started yet.
        _ => Status::Queued,
    }
}

/// A pull request event: closed + merged is a success, closed unmerged a cancellation,
/// everything else (opened, reopened, synchronize, edited, ...) work in progress.
#[must_use]
pub(crate) fn of_pull_request(action: &str, merged: bool) -> Status {
    match (action, merged) {
        ("closed", true) => Status::Success,
        ("closed", false) => Status::Cancelled,
        _ => Status::InProgress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        for waiting in ["queued", "requested", "waiting", "pending"] {
            assert_eq!(of_run(Some(waiting), None), Status::Queued, "{waiting}");
        }
        assert_eq!(of_run(Some("in_progress"), None), Status::InProgress);
        assert_eq!(of_run(Some("completed"), Some("success")), Status::Success);
        for failed in ["failure", "timed_out", "startup_failure", "action_required"] {
            assert_eq!(
                of_run(Some("completed"), Some(failed)),
                Status::Failure,
                "{failed}"
            );
        }
        for cancelled in ["cancelled", "skipped", "stale"] {
            assert_eq!(
                of_run(Some("completed"), Some(cancelled)),
                Status::Cancelled,
                "{cancelled}"
            );
        }
        assert_eq!(of_run(Some("completed"), None), Status::Failure);
    }

    #[test]
    fn pull_requests() {
        assert_eq!(of_pull_request("closed", true), Status::Success);
        assert_eq!(of_pull_request("closed", false), Status::Cancelled);
        for open in ["opened", "reopened", "synchronize"] {
            assert_eq!(of_pull_request(open, false), Status::InProgress);
        }
    }
}
