//! The core cost (issue 16, items 2 and 7): each function's verify + parse + plan on
//! representative inputs, and the GitHub App RS256 mint, timed in-process by `bench/core`
//! natively and inside Wasmtime.
//!
//! The same source is built twice: natively with the `native` profile (the release
//! profile at `opt-level = 3`, as a native binary would ship) and for wasm32-wasip2 exactly as
//! the components ship (release profile, `opt-level = "z"`, wasm-opt; [`build`]), run by the
//! pinned `wasmtime run`. Rounds alternate native, wasm, native, wasm, ... so load on the
//! machine falls on both columns alike; each cell is the median over rounds, with the range.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::{Part, Plan, spread};
use crate::tools::Tools;
use crate::{Result, build, cargo, describe, run};

/// The bench crate (and its binary).
const PACKAGE: &str = "pulser-bench-core";
/// The native build's profile (root Cargo.toml).
const NATIVE_PROFILE: &str = "native";
/// The op the goal is about, and the goal: p99 at most 1 ms inside Wasmtime.
const GOAL_OP: &str = "github_push_20k";
const GOAL_P99_NS: f64 = 1_000_000.0;

/// Timed iterations per op, and for the 25 MB delivery.
fn iterations(plan: &Plan) -> (usize, usize) {
    if plan.smoke { (2, 1) } else { (100, 3) }
}

/// One op's figures from one run of the bench.
#[derive(Debug, Clone, PartialEq)]
struct Figures {
    op: String,
    n: u64,
    bytes: u64,
    p50_ns: f64,
    p99_ns: f64,
}

/// The ops of one run, from the bench's JSON.
fn figures(run: &Value) -> Result<Vec<Figures>> {
    let ops = run
        .get("ops")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the bench printed no \"ops\": {run}"))?;
    ops.iter()
        .map(|op| {
            let text = |k: &str| op.get(k).and_then(Value::as_str).map(str::to_owned);
            let int = |k: &str| op.get(k).and_then(Value::as_u64);
            let ns = |k: &str| op.get(k).and_then(Value::as_f64);
            match (
                text("op"),
                int("n"),
                int("bytes"),
                ns("p50_ns"),
                ns("p99_ns"),
            ) {
                (Some(op), Some(n), Some(bytes), Some(p50_ns), Some(p99_ns)) => Ok(Figures {
                    op,
                    n,
                    bytes,
                    p50_ns,
                    p99_ns,
                }),
                _ => Err(format!(
                    "an op without op, n, bytes, p50_ns or p99_ns: {op}"
                )),
            }
        })
        .collect()
}

/// Builds both sides, runs `plan.rounds` interleaved rounds and returns the report's part
/// (printing it is the caller's).
///
/// # Errors
/// A build that fails, a run that fails (an op whose answer was wrong exits non-zero), or
/// output that is not the bench's JSON.
pub fn core_cost(root: &Path, tools: &Tools, plan: &Plan) -> Result<Part> {
    let native = build_native(root, tools)?;
    let wasm = build::build_wasip2_command(root, tools, "bench/core")?;
    let (n, n_large) = iterations(plan);
    let args = [n.to_string(), n_large.to_string()];
    let mut native_runs = Vec::new();
    let mut wasm_runs = Vec::new();
    for _ in 0..plan.rounds.max(1) {
        native_runs.push(run_bench(Command::new(&native).args(&args))?);
        wasm_runs.push(run_bench(
            Command::new(tools.bin("wasmtime"))
                .arg("run")
                .arg(&wasm)
                .args(&args),
        )?);
    }
    summarize(plan, &native_runs, &wasm_runs)
}

/// `cargo build --profile native -p pulser-bench-core`; the binary's path.
fn build_native(root: &Path, tools: &Tools) -> Result<PathBuf> {
    run(cargo()
        .current_dir(root)
        .args(["build", "--profile", NATIVE_PROFILE, "-p", PACKAGE])
        .envs(tools.lint_env()))?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join(NATIVE_PROFILE).join(PACKAGE))
}

/// Runs one side of a round; its JSON.
fn run_bench(cmd: &mut Command) -> Result<Value> {
    eprintln!("+ {}", describe(cmd));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {}: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "`{}` printed no JSON ({e}): {}",
            describe(cmd),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Min, median and max over rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

impl Spread {
    fn of(mut samples: Vec<f64>) -> Self {
        let (min, median, max) = spread(&mut samples);
        Self { min, median, max }
    }

    fn json(self) -> Value {
        json!({"min": self.min, "median": self.median, "max": self.max})
    }

    /// A cell: the median over rounds, and the range when there were several, all to the
    /// median's precision.
    fn cell(self, rounds: usize) -> String {
        let decimals = decimals(self.median);
        let ms = |ns: f64| format!("{:.*}", decimals, ns / 1e6);
        if rounds > 1 {
            format!("{} ({}–{})", ms(self.median), ms(self.min), ms(self.max))
        } else {
            ms(self.median)
        }
    }
}

/// One side's (native or wasm) p50 and p99 of one op over rounds.
#[derive(Debug, Clone, Copy)]
struct Side {
    p50: Spread,
    p99: Spread,
}

impl Side {
    fn of(runs: &[Vec<Figures>], op: &str) -> Result<Self> {
        let pick = |p99: bool| -> Result<Vec<f64>> {
            runs.iter()
                .map(|run| {
                    run.iter()
                        .find(|f| f.op == op)
                        .map(|f| if p99 { f.p99_ns } else { f.p50_ns })
                        .ok_or_else(|| format!("a run lacks op {op}"))
                })
                .collect()
        };
        Ok(Self {
            p50: Spread::of(pick(false)?),
            p99: Spread::of(pick(true)?),
        })
    }

    fn json(self) -> Value {
        json!({"p50_ns": self.p50.json(), "p99_ns": self.p99.json()})
    }
}

/// Decimals that show `ns` in ms to about three significant digits (none from 100 ms).
fn decimals(ns: f64) -> usize {
    match ns / 1e6 {
        ms if ms < 1.0 => 3,
        ms if ms < 100.0 => 2,
        _ => 0,
    }
}

/// `ns` in the table's unit, ms.
fn ms(ns: f64) -> String {
    format!("{:.*}", decimals(ns), ns / 1e6)
}

/// `wasm / native`, 0 when native is 0.
fn ratio(wasm: Spread, native: Spread) -> f64 {
    if native.median > 0.0 {
        wasm.median / native.median
    } else {
        0.0
    }
}

/// The part: per op, each side's p50 and p99 over rounds and the wasm/native ratio of the
/// medians; the goal's verdict; every run's figures.
fn summarize(plan: &Plan, native_runs: &[Value], wasm_runs: &[Value]) -> Result<Part> {
    let native: Vec<Vec<Figures>> = native_runs.iter().map(figures).collect::<Result<_>>()?;
    let wasm: Vec<Vec<Figures>> = wasm_runs.iter().map(figures).collect::<Result<_>>()?;
    let rounds = native.len();
    let mut ops = Vec::new();
    let mut rows = String::new();
    let mut goal = None;
    for first in native.first().into_iter().flatten() {
        let op = first.op.as_str();
        let (n_side, w_side) = (Side::of(&native, op)?, Side::of(&wasm, op)?);
        let (ratio_p50, ratio_p99) = (ratio(w_side.p50, n_side.p50), ratio(w_side.p99, n_side.p99));
        rows.push_str(&format!(
            "| {op} | {} | {} | {} | {} | {} | {} | {ratio_p50:.1} | {ratio_p99:.1} |\n",
            first.bytes,
            first.n,
            n_side.p50.cell(rounds),
            n_side.p99.cell(rounds),
            w_side.p50.cell(rounds),
            w_side.p99.cell(rounds),
        ));
        if op == GOAL_OP {
            goal = Some(w_side.p99.median);
        }
        ops.push(json!({
            "op": op,
            "bytes": first.bytes,
            "n": first.n,
            "native": n_side.json(),
            "wasm": w_side.json(),
            "wasm_over_native_p50": ratio_p50,
            "wasm_over_native_p99": ratio_p99,
        }));
    }
    let goal_p99 = goal.ok_or_else(|| format!("the bench has no {GOAL_OP} op"))?;
    let met = goal_p99 <= GOAL_P99_NS;
    let mut markdown = String::from(
        "| op | bytes | n | native p50 ms | native p99 ms | wasm p50 ms | wasm p99 ms | wasm/native p50 | wasm/native p99 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    markdown.push_str(&rows);
    markdown.push_str(&format!(
        "\nGoal: {GOAL_OP} in wasm at p99 ≤ 1 ms of core cost: p99 {} ms, {}.\n",
        ms(goal_p99),
        if met { "met" } else { "not met" }
    ));
    markdown.push_str(&format!(
        "\nEach op is one request through the function's real handler on a scripted platform \
         (no I/O): signature check, parsing, planning, building the outbound requests and \
         reading the scripted replies; `rs256_mint` is the GitHub App JWT alone (key parsed \
         from its setting, then signed, pulser-signing's pure-Rust RS256, 2048-bit key). \
         Native: `--profile {NATIVE_PROFILE}` (release at opt-level 3). Wasm: the release \
         build the components ship with (opt-level \"z\", wasm-opt), in-process under \
         `wasmtime run` (Wasmtime 48, Cranelift). {} interleaved round(s) of n timed \
         iterations per op after a warm-up; a cell is the median over rounds (min–max).\n",
        rounds
    ));
    if plan.smoke {
        markdown.push_str("\nSmoke plan: one short round; these figures mean nothing.\n");
    }
    Ok(Part {
        key: "core_cost",
        title: "Core cost: verify + parse + plan per request, native and in Wasmtime".into(),
        json: json!({
            "rounds": rounds,
            "smoke": plan.smoke,
            "goal": {"op": GOAL_OP, "wasm_p99_ns_at_most": GOAL_P99_NS, "wasm_p99_ns": goal_p99, "met": met},
            "ops": ops,
            "runs": {"native": native_runs, "wasm": wasm_runs},
        }),
        markdown,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn run(push_p99: u64, mint_p50: u64) -> Value {
        json!({"ops": [
            {"op": "github_push_20k", "n": 100, "bytes": 21073, "p50_ns": 100_000, "p99_ns": push_p99, "min_ns": 1, "max_ns": 2},
            {"op": "rs256_mint", "n": 100, "bytes": 104, "p50_ns": mint_p50, "p99_ns": 9_000_000, "min_ns": 1, "max_ns": 2},
        ]})
    }

    #[test]
    fn a_summary_has_the_median_and_range_over_rounds_and_the_ratio() {
        let native = [
            run(200_000, 3_000_000),
            run(300_000, 4_000_000),
            run(250_000, 3_500_000),
        ];
        let wasm = [
            run(800_000, 30_000_000),
            run(1_200_000, 35_000_000),
            run(900_000, 40_000_000),
        ];
        let part = summarize(&Plan::full(), &native, &wasm).unwrap();
        assert_eq!(part.key, "core_cost");
        let push = &part.json["ops"][0];
        assert_eq!(
            push["wasm"]["p99_ns"],
            json!({"min": 800_000.0, "median": 900_000.0, "max": 1_200_000.0})
        );
        assert_eq!(push["wasm_over_native_p99"], 900_000.0 / 250_000.0);
        assert_eq!(part.json["goal"]["met"], true);
        assert!(part.markdown.contains("| github_push_20k | 21073 | 100 | 0.100 (0.100–0.100) | 0.250 (0.200–0.300) | 0.100 (0.100–0.100) | 0.900 (0.800–1.200) | 1.0 | 3.6 |"), "{}", part.markdown);
        assert!(
            part.markdown
                .contains("| rs256_mint | 104 | 100 | 3.50 (3.00–4.00) |"),
            "{}",
            part.markdown
        );
        assert!(part.markdown.contains("p99 0.900 ms, met"));
        assert_eq!(part.json["runs"]["wasm"][2], wasm[2]);
    }

    #[test]
    fn a_goal_missed_says_so_and_a_smoke_run_says_its_figures_mean_nothing() {
        let part = summarize(&Plan::smoke(), &[run(1, 1)], &[run(1_500_000, 1)]).unwrap();
        assert!(
            part.markdown.contains("p99 1.50 ms, not met"),
            "{}",
            part.markdown
        );
        assert!(part.markdown.contains("these figures mean nothing"));
        assert!(
            part.markdown
                .contains("| github_push_20k | 21073 | 100 | 0.100 | 0.000 |"),
            "{}",
            part.markdown
        );
    }

    #[test]
    fn output_that_is_not_the_benchs_is_refused() {
        assert!(summarize(&Plan::smoke(), &[json!({})], &[run(1, 1)]).is_err());
        let mut partial = run(1, 1);
        partial["ops"][0].as_object_mut().unwrap().remove("p99_ns");
        assert!(summarize(&Plan::smoke(), &[partial], &[run(1, 1)]).is_err());
        // A wasm run that lacks an op the native run has.
        let short = json!({"ops": [run(1, 1)["ops"][0].clone()]});
        assert!(summarize(&Plan::smoke(), &[run(1, 1)], &[short]).is_err());
    }
}
