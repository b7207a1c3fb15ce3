//! What a request must get before the host spends memory or an instance on it: room in the
//! budget of buffered request bytes (`--max-buffered-mb`), then an instance slot
//! (`--max-instances`).
//!
//! Each routed component keeps a reserve of both for itself: one instance slot, and room for
//! one body of its own largest size (its `max_body_bytes`). Everything else is shared, first
//! come first served. A flood to one route can take all of the shared part and its own
//! reserve, never another component's reserve, so every other route can still serve one
//! request at a time however many routes are flooded. (A cap per component instead,
//! `max_instances - (components - 1)`, keeps the others alive only while a single route is
//! flooded; a queue per route would still need a limit per queue.)
//!
//! Bytes are taken without waiting: a request that finds no room is refused at once, before
//! its body is read, instead of holding a connection while it waits. Slots are waited for,
//! until the request's deadline.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why the limits cannot hold every component's reserve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// Fewer instance slots than routed components.
    #[error(
        "--max-instances {instances} is below the {components} routed components; each keeps one instance slot of its own"
    )]
    TooFewInstances {
        /// `--max-instances`.
        instances: u32,
        /// Routed components.
        components: usize,
    },
    /// The byte budget cannot hold one largest body of every component.
    #[error(
        "--max-buffered-mb ({budget} bytes) cannot hold one largest body of every routed component ({needed} bytes in all; component `{largest}` alone needs {largest_bytes}); raise it or lower max_body_bytes"
    )]
    BudgetTooSmall {
        /// The budget in bytes.
        budget: u64,
        /// The sum of every component's `max_body_bytes`.
        needed: u64,
        /// The component with the largest body limit.
        largest: String,
        /// Its body limit.
        largest_bytes: u64,
    },
}

/// One component's claim on the limits: its id and its body limit (its byte reserve).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The id in spin.toml (for error messages).
    pub id: &'a str,
    /// Its `max_body_bytes`, which it keeps in reserve.
    pub max_body_bytes: u64,
}

/// The budget of buffered request bytes and the instance slots, with every component's
/// reserve; components are named by their index in the list given to [`Admission::new`].
#[derive(Debug)]
pub struct Admission {
    bytes: Arc<Mutex<Ledger>>,
    shared_slots: Arc<Semaphore>,
    reserved_slots: Vec<Arc<Semaphore>>,
}

/// Bytes not taken: in the shared part and in each component's reserve.
#[derive(Debug)]
struct Ledger {
    shared: u64,
    reserves: Vec<u64>,
}

impl Admission {
    /// `budget` bytes and `instances` slots for `components`.
    ///
    /// # Errors
    /// [`AdmissionError`] when the reserves do not fit.
    pub fn new(
        budget: u64,
        instances: u32,
        components: &[Claim<'_>],
    ) -> Result<Self, AdmissionError> {
        let count = u32::try_from(components.len()).unwrap_or(u32::MAX);
        if instances < count {
            return Err(AdmissionError::TooFewInstances {
                instances,
                components: components.len(),
            });
        }
        let needed = components
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.max_body_bytes));
        let Some(shared) = budget.checked_sub(needed) else {
            let largest = components
                .iter()
                .max_by_key(|c| c.max_body_bytes)
                .copied()
                .unwrap_or(Claim {
                    id: "",
                    max_body_bytes: 0,
                });
            return Err(AdmissionError::BudgetTooSmall {
                budget,
                needed,
                largest: largest.id.to_owned(),
                largest_bytes: largest.max_body_bytes,
            });
        };
        let shared_slots = usize::try_from(instances - count).unwrap_or(usize::MAX);
        Ok(Self {
            bytes: Arc::new(Mutex::new(Ledger {
                shared,
                reserves: components.iter().map(|c| c.max_body_bytes).collect(),
            })),
            shared_slots: Arc::new(Semaphore::new(shared_slots)),
            reserved_slots: components
                .iter()
                .map(|_| Arc::new(Semaphore::new(1)))
                .collect(),
        })
    }

    /// Room for `bytes` request bytes for `component`, from its reserve first; `None` when
    /// there is not that much left (or no such component).
    pub fn buffer(&self, component: usize, bytes: u64) -> Option<Buffered> {
        self.reserved_slots.get(component)?;
        let mut buffered = Buffered {
            ledger: Arc::clone(&self.bytes),
            component,
            from_reserve: 0,
            from_shared: 0,
        };
        buffered.cover(bytes).then_some(buffered)
    }

    /// An instance slot for `component`: its own if free, else a shared one, else whichever
    /// frees first. Waits as long as it is polled (the caller bounds it by the deadline);
    /// `None` only for an unknown component.
    pub async fn slot(&self, component: usize) -> Option<Slot> {
        let reserved = Arc::clone(self.reserved_slots.get(component)?);
        let shared = Arc::clone(&self.shared_slots);
        if let Ok(permit) = Arc::clone(&reserved).try_acquire_owned() {
            return Some(Slot(permit));
        }
        if let Ok(permit) = Arc::clone(&shared).try_acquire_owned() {
            return Some(Slot(permit));
        }
        // Neither semaphore is ever closed, so neither acquire fails; if one did, the other
        // is still worth waiting for.
        tokio::select! {
            Ok(permit) = reserved.acquire_owned() => Some(Slot(permit)),
            Ok(permit) = shared.acquire_owned() => Some(Slot(permit)),
            else => None,
        }
    }
}

/// One instance slot, free again when dropped.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

/// Room in the byte budget held by one request; returned when dropped.
#[derive(Debug)]
pub struct Buffered {
    ledger: Arc<Mutex<Ledger>>,
    component: usize,
    from_reserve: u64,
    from_shared: u64,
}

impl Buffered {
    /// Bytes held.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.from_reserve.saturating_add(self.from_shared)
    }

    /// Grows the room held to at least `total` bytes, from the component's reserve first and
    /// then from the shared part; `false` (holding what it held) when there is not enough.
    pub fn cover(&mut self, total: u64) -> bool {
        let Some(more) = total.checked_sub(self.bytes()).filter(|&more| more > 0) else {
            return true;
        };
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        let Ledger { shared, reserves } = &mut *ledger;
        let Some(reserve) = reserves.get_mut(self.component) else {
            return false;
        };
        let from_reserve = more.min(*reserve);
        let from_shared = more - from_reserve;
        if from_shared > *shared {
            return false;
        }
        *reserve -= from_reserve;
        *shared -= from_shared;
        self.from_reserve += from_reserve;
        self.from_shared += from_shared;
        true
    }
}

impl Drop for Buffered {
    fn drop(&mut self) {
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.shared = ledger.shared.saturating_add(self.from_shared);
        if let Some(reserve) = ledger.reserves.get_mut(self.component) {
            *reserve = reserve.saturating_add(self.from_reserve);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    const KIB: u64 = 1024;

    fn claims() -> [Claim<'static>; 2] {
        [
            Claim {
                id: "flood",
                max_body_bytes: 100 * KIB,
            },
            Claim {
                id: "quick",
                max_body_bytes: 10 * KIB,
            },
        ]
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn bytes_come_from_the_reserve_then_the_shared_part() {
        let admission = Admission::new(200 * KIB, 4, &claims()).unwrap();
        // flood: 100 KiB reserve + 90 KiB shared.
        let first = admission.buffer(0, 100 * KIB).unwrap();
        let second = admission.buffer(0, 90 * KIB).unwrap();
        assert!(
            admission.buffer(0, 1).is_none(),
            "the flood has used all it may"
        );
        // quick still has its own reserve, and only that.
        let quick = admission.buffer(1, 10 * KIB).unwrap();
        assert!(admission.buffer(1, 1).is_none());
        drop(quick);
        drop(second);
        assert!(admission.buffer(1, 10 * KIB).is_some(), "returned on drop");
        drop(first);
        assert!(admission.buffer(0, 190 * KIB).is_some());
    }

    #[test]
    fn growing_takes_only_the_difference_and_keeps_what_it_has_on_failure() {
        let admission = Admission::new(120 * KIB, 2, &claims()).unwrap();
        let mut buffered = admission.buffer(0, 0).unwrap();
        assert!(buffered.cover(64 * KIB));
        assert!(buffered.cover(110 * KIB), "100 reserve + 10 shared");
        assert_eq!(buffered.bytes(), 110 * KIB);
        assert!(buffered.cover(50 * KIB), "already covered");
        assert!(!buffered.cover(111 * KIB));
        assert_eq!(buffered.bytes(), 110 * KIB);
        assert!(admission.buffer(1, 10 * KIB).is_some());
        drop(buffered);
        assert!(admission.buffer(0, 110 * KIB).is_some());
    }

    #[test]
    fn the_budget_must_hold_every_reserve() {
        let error = Admission::new(109 * KIB, 4, &claims()).unwrap_err();
        assert_eq!(
            error,
            AdmissionError::BudgetTooSmall {
                budget: 109 * KIB,
                needed: 110 * KIB,
                largest: "flood".into(),
                largest_bytes: 100 * KIB,
            }
        );
        assert!(error.to_string().contains("`flood`"), "{error}");
        assert!(Admission::new(110 * KIB, 4, &claims()).is_ok());
    }

    #[test]
    fn every_component_needs_a_slot_of_its_own() {
        let error = Admission::new(KIB * KIB, 1, &claims()).unwrap_err();
        assert_eq!(
            error,
            AdmissionError::TooFewInstances {
                instances: 1,
                components: 2
            }
        );
    }

    #[test]
    fn a_flood_takes_the_shared_slots_but_not_another_components_own() {
        block_on(async {
            let admission = Arc::new(Admission::new(KIB * KIB, 3, &claims()).unwrap());
            let wait = Duration::from_millis(50);
            let first = admission.slot(0).await.unwrap();
            let second = admission.slot(0).await.unwrap();
            assert!(
                tokio::time::timeout(wait, admission.slot(0)).await.is_err(),
                "the flood holds its own slot and the shared one"
            );
            let quick = admission.slot(1).await.unwrap();
            assert!(tokio::time::timeout(wait, admission.slot(1)).await.is_err());
            let waiting = tokio::spawn({
                let admission = Arc::clone(&admission);
                async move { admission.slot(1).await.is_some() }
            });
            drop(first);
            tokio::time::sleep(wait).await;
            assert!(
                !waiting.is_finished(),
                "the flood's own slot is the flood's"
            );
            drop(second);
            assert!(
                tokio::time::timeout(wait, waiting).await.unwrap().unwrap(),
                "a freed shared slot serves whoever waits"
            );
            drop(quick);
        });
    }

    #[test]
    fn an_unknown_component_gets_nothing() {
        let admission = Admission::new(KIB * KIB, 2, &claims()).unwrap();
        assert!(admission.buffer(2, 0).is_none());
        assert!(block_on(admission.slot(2)).is_none());
    }
}
