#![warn(unreachable_pub)]
//! The bench's core cost (issue 16, items 2 and 7): each function's own work on one request
//! (verify the signature, parse, plan, build the outbound requests), answered by scripted
//! replies with no I/O, and the GitHub App RS256 mint, timed in-process.
//!
//! The same source, with the same inputs, builds natively and for `wasm32-wasip2` (a wasi:cli
//! command `cargo xtask bench` runs under `wasmtime run`), so the two columns of the report
//! differ only in where the code runs.
//!
//! ```text
//! pulser-bench-core <n> [<n_large>] [--only <op>]
//! ```
//!
//! Every op (or only the one named, for a profiler) runs a few warm-up iterations, then `n`
//! timed ones (`n_large` for the 25 MB delivery, default 2). Each iteration sets up a fresh scripted platform and request
//! (untimed), times the handler with [`std::time::Instant`], and checks the answer: an op
//! whose answer is wrong stops the bench with exit status 1 instead of printing a fast
//! figure for a refusal. Prints one JSON object:
//!
//! ```text
//! {"ops":[{"op":"github_push_20k","n":200,"p50_ns":..,"p99_ns":..,"min_ns":..,"max_ns":..,"bytes":..}, ...]}
//! ```

use std::process::ExitCode;
use std::time::Duration;

mod inputs;
mod ops;

/// Timed iterations of the 25 MB op when the command line does not say.
const DEFAULT_N_LARGE: usize = 2;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let only = match args.iter().position(|a| a == "--only") {
        Some(at) if at + 1 < args.len() => args.drain(at..at + 2).nth(1),
        Some(_) => {
            eprintln!("pulser-bench-core: --only needs an op name");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    match iterations(&args).and_then(|(n, n_large)| report(n, n_large, only.as_deref())) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pulser-bench-core: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `(n, n_large)` from the arguments.
fn iterations(args: &[String]) -> Result<(usize, usize), String> {
    let count = |arg: &String| match arg.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{arg:?} is not a positive iteration count")),
    };
    match args {
        [n] => Ok((count(n)?, DEFAULT_N_LARGE)),
        [n, n_large] => Ok((count(n)?, count(n_large)?)),
        _ => Err("usage: pulser-bench-core <n> [<n_large>] [--only <op>]".into()),
    }
}

/// Runs every op (or only the one named `only`) and returns the JSON report.
fn report(n: usize, n_large: usize, only: Option<&str>) -> Result<serde_json::Value, String> {
    let mut rows = Vec::new();
    let ops = ops::all()?;
    if let Some(only) = only
        && !ops.iter().any(|op| op.name == only)
    {
        return Err(format!("no op is called {only:?}"));
    }
    for op in ops
        .iter()
        .filter(|op| only.is_none_or(|only| op.name == only))
    {
        let n = if op.large { n_large } else { n };
        let warm_up = if op.large { 1 } else { (n / 10).clamp(1, 20) };
        for _ in 0..warm_up {
            op.iterate().map_err(|e| format!("{}: {e}", op.name))?;
        }
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let took = op.iterate().map_err(|e| format!("{}: {e}", op.name))?;
            samples.push(nanos(took));
        }
        samples.sort_unstable();
        rows.push(serde_json::json!({
            "op": op.name,
            "n": n,
            "p50_ns": percentile(&samples, 50),
            "p99_ns": percentile(&samples, 99),
            "min_ns": samples.first().copied().unwrap_or(0),
            "max_ns": samples.last().copied().unwrap_or(0),
            "bytes": op.bytes,
        }));
    }
    Ok(serde_json::json!({ "ops": rows }))
}

fn nanos(took: Duration) -> u64 {
    u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)
}

/// The nearest-rank `pct`th percentile of `sorted` (0 when empty): the smallest sample with
/// at least `pct`% of the samples at or below it.
fn percentile(sorted: &[u64], pct: usize) -> u64 {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=200).collect();
        assert_eq!(percentile(&samples, 50), 100);
        assert_eq!(percentile(&samples, 99), 198);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[3, 9], 50), 3);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn the_command_line_names_one_or_two_counts() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(iterations(&args(&["200"])), Ok((200, DEFAULT_N_LARGE)));
        assert_eq!(iterations(&args(&["200", "5"])), Ok((200, 5)));
        assert!(iterations(&args(&[])).is_err());
        assert!(iterations(&args(&["0"])).is_err());
        assert!(iterations(&args(&["x"])).is_err());
    }

    /// Every op answers as it must, once each (the sizes are the report's, so this also
    /// proves the inputs fit the functions' limits).
    #[test]
    fn every_op_answers_as_expected() {
        for op in ops::all().unwrap() {
            op.iterate().unwrap();
        }
    }
}
