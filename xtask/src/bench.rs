//! `cargo xtask bench`: where speed and size goals are measured, never in timed tests.
//!
//! Builds every flavour (printing the size table), starts a throwaway local stack, and sends
//! signed requests to every endpoint of spin.toml through the edge host, one at a time. Prints
//! one row per endpoint: the WASI component's size against its budget, and latency
//! percentiles for a fresh instance per request including the real PostgREST / stand-in
//! calls behind it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pulser_tests::stack::Stack;

use crate::tools::Tools;
use crate::{Result, build, up};

/// Requests per endpoint (after warm-up).
const REQUESTS: u64 = 100;

/// Size budgets of the WASI flavour, from the issues.
fn budget(function: &str) -> Option<u64> {
    match function {
        "git_ops_dispatch" => Some(450 * 1024),
        "odoo_event_ingest" | "push_to_odoo" | "github_webhook" => Some(250 * 1024),
        _ => None,
    }
}

/// Runs the benchmark and prints its table.
pub fn bench(root: &Path, tools: &Tools) -> Result {
    let dist = build::build_dist(root, tools)?;
    let edge = crate::build_edge(root)?;
    let routes = up::routes(root)?;
    let env: BTreeMap<String, PathBuf> = tools
        .env()
        .into_iter()
        .map(|(k, v)| (k, PathBuf::from(v)))
        .collect();
    let stack = std::panic::catch_unwind(|| {
        let mut builder = Stack::builder().tool("PULSER_EDGE_BIN", &edge);
        for var in ["POSTGREST_BIN", "WORKERD_BIN"] {
            if let Some(path) = env.get(var) {
                builder = builder.tool(var, path);
            }
        }
        builder.start()
    })
    .map_err(|_| "the stack did not start (the reason is printed above)".to_owned())?;

    println!(
        "\n| endpoint | wasi bytes | budget | p50 ms | p95 ms | max ms | ok/sent |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for route in &routes {
        let size = std::fs::metadata(dist.join("wasi").join(format!("{}.wasm", route.function)))
            .map_or(0, |m| m.len());
        let budget = budget(&route.function).map_or("-".to_owned(), |b| {
            format!("{b} ({})", if size <= b { "within" } else { "over" })
        });
        let Some(mut samples) = measure(&stack, route) else {
            println!(
                "| {} | {size} | {budget} | - | - | - | no example |",
                route.function
            );
            continue;
        };
        let ok = samples.iter().filter(|(_, ok)| *ok).count();
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let pick = |q: f64| {
            let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(index).map_or(0.0, |s| s.0)
        };
        println!(
            "| {} | {size} | {budget} | {:.2} | {:.2} | {:.2} | {ok}/{} |",
            route.function,
            pick(0.50),
            pick(0.95),
            pick(1.0),
            samples.len()
        );
    }
    println!(
        "\nLatency: sequential requests from this process through the edge host (dev build), a \
         fresh component instance each, including the PostgREST / stand-in calls behind it."
    );
    Ok(())
}

/// (milliseconds, answered 2xx) per request; `None` when there is no example for the function.
fn measure(stack: &Stack, route: &up::Route) -> Option<Vec<(f64, bool)>> {
    let url = stack.edge_url(&route.route);
    let mut samples = Vec::new();
    // Unique ids per request; the first few are warm-up (compile caches, connection pools).
    for n in 0..REQUESTS + 5 {
        let (body, headers) = up::signed_example(stack, &route.function, 1000 + n)?;
        let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let start = Instant::now();
        let answer = pulser_tests::try_request("POST", &url, &all, body.as_bytes());
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        if n >= 5 {
            samples.push((
                elapsed,
                answer.is_ok_and(|a| (200..300).contains(&a.status)),
            ));
        }
    }
    Some(samples)
}
