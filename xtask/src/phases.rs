//! How long each phase of a command took, printed as one table at the end (also when a
//! phase failed), so that a slower CI run shows where the time went.

use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Phase {
    name: String,
    took: Duration,
    ok: bool,
}

static PHASES: Mutex<Vec<Phase>> = Mutex::new(Vec::new());

/// Runs `f` as the phase `name`. Phases with the same name add up (one row per flavour
/// however many crates it builds).
pub fn time<T, E>(name: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let start = Instant::now();
    let result = f();
    record(name, start.elapsed(), result.is_ok());
    result
}

pub fn record(name: &str, took: Duration, ok: bool) {
    let mut phases = PHASES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(phase) = phases.iter_mut().find(|p| p.name == name) {
        phase.took += took;
        phase.ok &= ok;
    } else {
        phases.push(Phase {
            name: name.to_owned(),
            took,
            ok,
        });
    }
}

/// The table of every phase so far, in the order they first ran, and the wall time.
pub fn table(wall: Duration) -> String {
    let phases = PHASES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let width = phases
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!("\n| {:<width$} | {:>9} | result |\n", "phase", "seconds");
    out.push_str(&format!(
        "|{}|{}|--------|\n",
        "-".repeat(width + 2),
        "-".repeat(11)
    ));
    for p in phases.iter() {
        out.push_str(&format!(
            "| {:<width$} | {:>9.1} | {:<6} |\n",
            p.name,
            p.took.as_secs_f64(),
            if p.ok { "ok" } else { "FAILED" }
        ));
    }
    out.push_str(&format!(
        "| {:<width$} | {:>9.1} |        |\n",
        "wall time",
        wall.as_secs_f64()
    ));
    out
}
