//! Instances kept between requests, for the components that allow it
//! (`[component.<id>.tool.edge] reuse = N`).
//!
//! By default every request gets a fresh instance, so nothing one request leaves in a guest's
//! memory can reach the next: what a host must assume of a component it knows nothing about.
//! A component whose code carries no request's state into the next may set `reuse`; one
//! instance then serves up to N requests, one after another (a wasi:http 0.2 handler is
//! called once at a time), which saves each later request the instantiation, the fresh
//! store and WASI context, the slot reset, and the guest's own start-up work (reading its
//! settings). An instance that has served is kept for the next request only when
//! [`keep`] says so: its request ended normally (after a trap, a deadline or an error its
//! state is unknown), it has served fewer than N, its linear memory stayed at most
//! [`KEEP_MEMORY_BYTES`] (an instance grown by a large body gives that memory back instead of
//! holding it while it waits) and fewer than [`KEPT_PER_COMPONENT`] wait already. One that
//! waited longer than [`KEEP_FOR`] is dropped when the component is next called.
//!
//! Kept instances hold a pool slot each; the engine's pool has room for them beside the
//! `--max-instances` in flight (`engine::new`), so keeping one never keeps a request out.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use crate::host::HostState;

/// Instances of one component kept at most: about the requests a small host has in flight
/// at once (8 connections keep 8 busy); a request finding none waiting instantiates afresh.
pub const KEPT_PER_COMPONENT: u32 = 8;

/// Linear memory above which an instance is not kept: a component here runs in about 1.5
/// MiB (a 1 MiB stack and its heap); one that grew past this read a large body.
pub const KEEP_MEMORY_BYTES: usize = 8 << 20;

/// How long an instance may wait for its next request.
pub const KEEP_FOR: Duration = Duration::from_secs(60);

/// How an instance's latest request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    /// Requests it has served, this one included.
    pub requests: u32,
    /// Its linear memory now.
    pub memory_bytes: usize,
    /// Whether the handler returned normally (no trap, no deadline, no error).
    pub ended_normally: bool,
}

/// Whether an instance that has just served goes back to wait, given the component's `reuse`
/// and how many of its instances already wait.
#[must_use]
pub fn keep(reuse: u32, used: Used, waiting: usize) -> bool {
    reuse > 1
        && used.ended_normally
        && used.requests < reuse
        && used.memory_bytes <= KEEP_MEMORY_BYTES
        && waiting < KEPT_PER_COMPONENT as usize
}

/// A live instance and its store.
pub struct Instance {
    /// Its store (the instance's memory, tables and host state).
    pub store: Store<HostState>,
    /// Its exports.
    pub proxy: Proxy,
    /// Requests it has served.
    pub requests: u32,
}

/// The instances of one component waiting for a request, newest last.
pub type Kept = Shelf<Instance>;

impl Kept {
    /// Keeps `instance`, whose handler has just returned normally (a failed one is dropped
    /// where it failed), if [`keep`] says so.
    pub fn put_back_served(&self, instance: Instance, now: Instant) {
        let used = Used {
            requests: instance.requests,
            memory_bytes: instance.store.data().memory.bytes,
            ended_normally: true,
        };
        self.put_back(instance, used, now);
    }
}

/// Items waiting since a time: [`Kept`], generic so its rules are tested without Wasmtime.
#[derive(Debug)]
pub struct Shelf<T> {
    reuse: u32,
    waiting: Mutex<Vec<(T, Instant)>>,
}

impl<T> Shelf<T> {
    /// An empty shelf for a component with `reuse` (1: nothing is ever kept).
    #[must_use]
    pub fn new(reuse: u32) -> Self {
        Self {
            reuse,
            waiting: Mutex::new(Vec::new()),
        }
    }

    /// Whether anything may be kept at all.
    #[must_use]
    pub fn reuses(&self) -> bool {
        self.reuse > 1
    }

    /// The most recently kept item (its pages are the likeliest still in cache), after
    /// dropping those that waited past [`KEEP_FOR`] at `now`.
    pub fn take(&self, now: Instant) -> Option<T> {
        if !self.reuses() {
            return None;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.retain(|(_, since)| now.saturating_duration_since(*since) < KEEP_FOR);
        waiting.pop().map(|(item, _)| item)
    }

    /// Keeps `item`, which has just been `used`, if [`keep`] says so; otherwise it is dropped
    /// (outside the lock: dropping an instance returns its slot to the pool).
    pub fn put_back(&self, item: T, used: Used, now: Instant) {
        let rejected = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if keep(self.reuse, used, waiting.len()) {
                waiting.push((item, now));
                None
            } else {
                Some(item)
            }
        };
        drop(rejected);
    }

    /// Items waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMAL: Used = Used {
        requests: 1,
        memory_bytes: 1536 << 10,
        ended_normally: true,
    };

    #[test]
    fn an_instance_that_served_normally_and_may_serve_again_is_kept() {
        assert!(keep(64, NORMAL, 0));
        assert!(keep(2, NORMAL, 7));
    }

    #[test]
    fn an_instance_whose_request_did_not_end_normally_is_dropped() {
        let failed = Used {
            ended_normally: false,
            ..NORMAL
        };
        assert!(!keep(64, failed, 0));
    }

    #[test]
    fn an_instance_that_served_its_reuse_is_dropped() {
        assert!(!keep(1, NORMAL, 0), "reuse 1: a fresh instance per request");
        let unused = Used {
            requests: 0,
            ..NORMAL
        };
        assert!(
            !keep(1, unused, 0),
            "reuse 1 keeps not even the instance checked at start-up"
        );
        assert!(keep(2, unused, 0));
        let third = Used {
            requests: 3,
            ..NORMAL
        };
        assert!(keep(4, third, 0));
        assert!(!keep(3, third, 0));
    }

    #[test]
    fn an_instance_grown_past_the_memory_bound_is_dropped() {
        let at = Used {
            memory_bytes: KEEP_MEMORY_BYTES,
            ..NORMAL
        };
        let over = Used {
            memory_bytes: KEEP_MEMORY_BYTES + 65536,
            ..NORMAL
        };
        assert!(keep(64, at, 0));
        assert!(!keep(64, over, 0));
    }

    #[test]
    fn no_more_than_the_bound_wait() {
        assert!(!keep(64, NORMAL, KEPT_PER_COMPONENT as usize));
    }

    #[test]
    fn a_shelf_without_reuse_keeps_nothing() {
        let shelf = Shelf::new(1);
        let now = Instant::now();
        shelf.put_back(7_u32, NORMAL, now);
        assert_eq!(shelf.waiting(), 0);
        assert_eq!(shelf.take(now), None);
    }

    #[test]
    fn the_newest_item_is_taken_first() {
        let shelf = Shelf::new(64);
        let now = Instant::now();
        shelf.put_back(1_u32, NORMAL, now);
        shelf.put_back(2_u32, NORMAL, now + Duration::from_secs(1));
        assert_eq!(shelf.take(now + Duration::from_secs(2)), Some(2));
        assert_eq!(shelf.take(now + Duration::from_secs(2)), Some(1));
        assert_eq!(shelf.take(now + Duration::from_secs(2)), None);
    }

    #[test]
    fn items_that_waited_too_long_are_dropped_when_the_shelf_is_next_used() {
        let shelf = Shelf::new(64);
        let now = Instant::now();
        shelf.put_back(1_u32, NORMAL, now);
        shelf.put_back(2_u32, NORMAL, now + Duration::from_secs(30));
        let later = now + KEEP_FOR + Duration::from_secs(1);
        assert_eq!(shelf.take(later), Some(2));
        assert_eq!(shelf.waiting(), 0, "the stale one went with it");
    }

    #[test]
    fn a_full_shelf_drops_what_comes_back() {
        let shelf = Shelf::new(64);
        let now = Instant::now();
        for item in 0..KEPT_PER_COMPONENT + 2 {
            shelf.put_back(item, NORMAL, now);
        }
        assert_eq!(shelf.waiting(), KEPT_PER_COMPONENT as usize);
    }
}
