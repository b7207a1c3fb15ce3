#![allow(unsafe_code, clippy::unwrap_used, clippy::panic)]
//! What normalizing a delivery costs in memory beyond its body, measured by a counting global
//! allocator: a push with 100,000 commits must cost no more than one with a handful (the
//! picker counts the commits and keeps only the first message naming a VTID).
//!
//! One test in this binary, so no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use github_webhook::event::{Kind, normalize};
use serde_json::Value;

/// [`System`], counting the bytes held and the most ever held at once.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let held = HELD.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(held, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    HELD.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            // A moving realloc briefly holds both blocks: count that as its peak.
            grew(new_size);
            shrank(layout.size());
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes held at once while `f` runs, beyond what was held before it.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = f();
    (result, PEAK.load(Ordering::Relaxed) - before)
}

/// A push of `commits` commits shaped like GitHub's (ids, urls, authors, file lists; the
/// message has an escaped newline, so reading it decodes), where only the last message
/// names a VTID.
fn push_with(commits: usize) -> Vec<u8> {
    let mut body = String::from(
        r#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0000000000000000000000000000000000000000","compare":"https://github.com/o/r/compare/a...b","commits":["#,
    );
    for n in 0..commits {
        let message = if n + 1 == commits {
            "fix: retry (DEV-LAST-0099)\n\nlast".to_owned()
        } else {
            format!("commit {n}\n\nno task id")
        };
        let message = serde_json::to_string(&message).unwrap();
        if n > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":"{n:040x}","tree_id":"{n:040x}","distinct":true,"message":{message},"timestamp":"2019-05-15T15:19:25Z","url":"https://github.com/o/r/commit/{n:040x}","author":{{"name":"a","email":"a@example.com"}},"added":["README.md"],"removed":[],"modified":[]}}"#
        ));
    }
    body.push_str(
        r#"],"head_commit":{"message":"no id here"},"repository":{"full_name":"o/r"},"sender":{"login":"s"}}"#,
    );
    body.into_bytes()
}

fn normalized(body: &[u8]) -> (Value, usize) {
    peak_during(|| normalize(Kind::Push, body, "memory").unwrap())
}

#[test]
fn a_push_with_100000_commits_costs_what_one_with_ten_does() {
    let small = push_with(10);
    let huge = push_with(100_000);

    let (row, small_peak) = normalized(&small);
    assert_eq!(row["meta"]["commits"], 10);
    assert_eq!(row["vtid"], "DEV-LAST-0099");

    let (row, huge_peak) = normalized(&huge);
    assert_eq!(row["meta"]["commits"], 100_000);
    assert_eq!(row["vtid"], "DEV-LAST-0099");
    assert_eq!(row["layer"], "LAST");

    eprintln!("peak beyond the body: 10 commits {small_peak} B, 100,000 commits {huge_peak} B");
    // Beyond the body, a fixed few kilobytes: the row, a bounded table of picked values and
    // one decoded message at a time. Before the picker counted, it kept two entries and an
    // owned copy of every commit's message (megabytes, growing with the list).
    assert!(
        huge_peak <= 16 * 1024,
        "100,000 commits held {huge_peak} bytes at peak beyond the body"
    );
    assert!(
        huge_peak <= small_peak + 1024,
        "100,000 commits held {huge_peak} bytes at peak, 10 held {small_peak}"
    );
}
