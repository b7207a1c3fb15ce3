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

use pulser_tests::cell::Cell;
use pulser_tests::stack::Stack;

use crate::tools::Tools;
use crate::{Result, build, up};

// Not `core`, which would shadow the core crate in this module.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "bench() and the test runner call it once wired")
)]
mod core_cost;

/// How much to measure: `cargo xtask bench` runs [`Plan::full`]; `cargo xtask test` runs
/// [`Plan::smoke`], one short round of every part, so no part of the bench can rot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Interleaved rounds of every comparison (at least 3 for a report).
    pub rounds: usize,
    /// One short round: proves each part runs, its figures mean nothing.
    pub smoke: bool,
}

impl Plan {
    /// The report's plan.
    pub const fn full() -> Self {
        Self {
            rounds: 3,
            smoke: false,
        }
    }

    /// The test suite's plan.
    pub const fn smoke() -> Self {
        Self {
            rounds: 1,
            smoke: true,
        }
    }
}

/// One part of the report: its figures as JSON (`target/bench/report.json` holds every
/// part under its key) and as a Markdown table with notes (BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct Part {
    /// Key in report.json, e.g. `core_cost`.
    pub key: &'static str,
    /// Section heading.
    pub title: String,
    /// Every figure, machine-readable.
    pub json: serde_json::Value,
    /// The table (and any notes) as printed and written to BENCHMARKS.md.
    pub markdown: String,
}

/// Median, min and max of `samples` (sorted in place); zeros when empty.
pub fn spread(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let median = samples.get(samples.len() / 2).copied().unwrap_or(0.0);
    let min = samples.first().copied().unwrap_or(0.0);
    let max = samples.last().copied().unwrap_or(0.0);
    (min, median, max)
}

/// Requests per endpoint (after warm-up).
const REQUESTS: u64 = 100;

/// Size budgets of the WASI flavour, from the issues.
fn budget(function: &str) -> Option<u64> {
    match function {
        "git_ops_dispatch" => Some(450_000),
        "odoo_event_ingest" | "push_to_odoo" | "github_webhook" => Some(250_000),
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
        let mut builder = Stack::builder()
            .cell(Cell::EdgeWasi)
            .tool("PULSER_EDGE_BIN", &edge);
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
    workers_mint(&stack);
    native_mint(tools, &stack.var("GITHUB_APP_PRIVATE_KEY_BASE64"));
    Ok(())
}

/// What a mint costs in WebCrypto itself: `importKey("pkcs8")` + RS256 `sign` with the
/// stack's app key, timed in Node 22 (the same Web Crypto API; workerd does not expose CPU
/// time to a Worker, and its clock does not advance while one computes).
fn native_mint(tools: &Tools, key_base64: &str) {
    const SCRIPT: &str = r#"
const { createPrivateKey } = await import('node:crypto');
const pem = Buffer.from(process.env.KEY_B64, 'base64').toString();
const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
const msg = new TextEncoder().encode('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiIxIn0');
const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const t = [];
for (let i = 0; i < 105; i++) {
  const s = performance.now();
  const key = await crypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
  await crypto.subtle.sign(alg.name, key, msg);
  if (i >= 5) t.push(performance.now() - s);
}
t.sort((a, b) => a - b);
console.log(`${t[50].toFixed(2)} ${t[95].toFixed(2)}`);
"#;
    let out = std::process::Command::new(tools.bin("node"))
        .args(["--input-type=module", "-e", SCRIPT])
        .env("KEY_B64", key_base64)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            println!(
                "WebCrypto importKey + RS256 sign alone (Node 22, the stack's 2048-bit app key): \
                 p50 {} ms, p95 {} ms.",
                parts.next().unwrap_or("?"),
                parts.next().unwrap_or("?")
            );
        }
        Ok(out) => println!(
            "WebCrypto timing failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("WebCrypto timing failed: node: {e}"),
    }
}

/// `git_ops_dispatch` on workerd, once with the installation token cached in the isolate and
/// once with the GitHub stand-in issuing 30-second tokens, so every request mints an app JWT
/// (WebCrypto importKey + RS256 sign) and exchanges it. The difference between the two rows
/// is what a cold mint adds, the token exchange's local round trip included: an upper bound
/// on the CPU the mint costs.
fn workers_mint(stack: &Stack) {
    let worker = stack.workerd("git_ops_dispatch");
    let url = worker.url("/pulser/git-ops");
    let secret = stack.var("PULSER_WEBHOOK_SECRET");
    let secret = secret.split(',').next().unwrap_or_default().to_owned();
    // Every request needs an id of its own: a repeated one is answered as a duplicate.
    let sent = std::cell::Cell::new(0u64);
    let run = || -> Vec<f64> {
        let mut samples = Vec::new();
        for n in 0..REQUESTS + 5 {
            sent.set(sent.get() + 1);
            let body = format!(
                r#"{{"message":"bench {n}","request_id":"bench-{}","timestamp":{}}}"#,
                sent.get(),
                pulser_tests::clock::unix_now()
            );
            let signature = format!(
                "sha256={}",
                pulser_tests::hmac_hex(secret.as_bytes(), body.as_bytes())
            );
            let headers = [
                ("content-type", "application/json"),
                ("x-pulser-signature", signature.as_str()),
            ];
            let start = Instant::now();
            let answer = pulser_tests::try_request("POST", &url, &headers, body.as_bytes());
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            if n >= 5 && answer.is_ok_and(|a| a.status == 202) {
                samples.push(elapsed);
            }
        }
        samples.sort_by(f64::total_cmp);
        samples
    };
    let pick = |samples: &[f64], q: f64| {
        let index = ((samples.len().max(1) as f64 - 1.0) * q).round() as usize;
        samples.get(index).copied().unwrap_or(0.0)
    };
    // Short-lived tokens first: the fresh isolate has none cached, and never keeps one.
    stack
        .github
        .set_mode(pulser_tests::stack::GithubMode::ShortLivedTokens);
    let before = stack.github.tokens_issued();
    let minted = run();
    let mints = stack.github.tokens_issued() - before;
    stack.github.set_mode(pulser_tests::stack::GithubMode::Ok);
    let before = stack.github.tokens_issued();
    let cached = run();
    let cached_mints = stack.github.tokens_issued() - before;
    println!(
        "\n| Workers git_ops_dispatch on workerd | p50 ms | p95 ms | ok/sent | tokens minted (incl. warm-up) |\n|---|---:|---:|---:|---:|"
    );
    for (label, samples, tokens) in [
        (
            "installation token cached in the isolate",
            &cached,
            cached_mints,
        ),
        (
            "app JWT minted (WebCrypto) + exchanged per request",
            &minted,
            mints,
        ),
    ] {
        println!(
            "| {label} | {:.2} | {:.2} | {}/{REQUESTS} | {tokens} |",
            pick(samples, 0.5),
            pick(samples, 0.95),
            samples.len()
        );
    }
    println!(
        "\nMinting per request adds {:.2} ms at the median: the mint plus the token exchange \
         with the stand-in (which verifies the JWT in a debug-profile harness), an upper bound \
         on the mint's CPU (the free plan allows 10 ms of CPU per request).",
        pick(&minted, 0.5) - pick(&cached, 0.5)
    );
}

/// (milliseconds, answered 2xx) per request; `None` when there is no example for the function.
fn measure(stack: &Stack, route: &up::Route) -> Option<Vec<(f64, bool)>> {
    let url = stack.url(&route.route);
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
