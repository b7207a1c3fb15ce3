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

#[cfg(test)]
mod tests {
    use super::*;

    /// The row of `name` in the table (the table is shared by every test of the binary).
    fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
        table
            .lines()
            .filter(|l| l.starts_with(&format!("| {name} ")))
            .collect()
    }

    #[test]
    fn phases_of_one_name_add_up_to_one_row_that_failed_if_any_did() {
        record(
            "phases-test flavour build",
            Duration::from_millis(1500),
            true,
        );
        record(
            "phases-test flavour build",
            Duration::from_millis(1000),
            false,
        );
        record(
            "phases-test flavour build",
            Duration::from_millis(500),
            true,
        );
        let table = table(Duration::from_secs(10));
        let rows = row(&table, "phases-test flavour build");
        assert_eq!(rows.len(), 1, "{table}");
        assert!(rows[0].ends_with("|       3.0 | FAILED |"), "{table}");
    }

    #[test]
    fn a_timed_phase_is_recorded_with_its_result_and_the_wall_time_closes_the_table() {
        let ok: Result<u8, String> = time("phases-test passes", || Ok(7));
        assert_eq!(ok, Ok(7));
        let failed: Result<(), String> = time("phases-test fails", || Err("no".into()));
        assert!(failed.is_err());
        let table = table(Duration::from_millis(12_340));
        assert!(
            row(&table, "phases-test passes")[0].ends_with("| ok     |"),
            "{table}"
        );
        assert!(
            row(&table, "phases-test fails")[0].ends_with("| FAILED |"),
            "{table}"
        );
        let last = table.lines().last().unwrap_or_default();
        assert!(last.starts_with("| wall time "), "{table}");
        assert!(last.ends_with("|      12.3 |        |"), "{table}");
    }
}
