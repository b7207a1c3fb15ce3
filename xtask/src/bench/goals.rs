//! The goals, each held against this run's figures: the table BENCHMARKS.md opens
//! with. A goal is met or not by the median over rounds; the range is beside it.

// `value["key"]` on a serde_json Value answers Null for a missing key; it never panics.
#![allow(clippy::indexing_slicing)]

use serde_json::Value;

use super::Part;

/// One row: the goal, where it was measured, the figure, met or not.
struct Row {
    goal: String,
    cell: String,
    figure: String,
    met: Option<bool>,
}

/// The goals table from the parts of one run (any part missing leaves its rows out).
pub fn table(parts: &[Part]) -> String {
    let part = |key: &str| parts.iter().find(|p| p.key == key).map(|p| &p.json);
    let mut rows = Vec::new();
    if let Some(load) = part("load") {
        let ratios = load["ratios"].as_array().cloned().unwrap_or_default();
        let find = |comparison: &str, cell: &str| {
            ratios
                .iter()
                .find(|r| r["comparison"] == comparison && r["cell"] == cell)
                .cloned()
        };
        let cells: Vec<String> = {
            let mut cells: Vec<String> = ratios
                .iter()
                .filter_map(|r| r["cell"].as_str().map(str::to_owned))
                .collect();
            cells.dedup();
            cells
        };
        for cell in &cells {
            for (goal, comparison, at_least, p99_at_most) in [
                (
                    "ingest, real stack: >= 2x the Deno peer's req/s, p99 <= 0.5x",
                    "ingest, stored, vs Deno peer",
                    2.0,
                    Some(0.5),
                ),
                (
                    "GitHub, real stack: >= 2x the Node peer's req/s, p99 <= 0.5x",
                    "GitHub push, stored, vs Node peer",
                    2.0,
                    Some(0.5),
                ),
                (
                    "GitHub, forged signature: >= 3x the Node peer's req/s",
                    "GitHub, forged signature, vs Node peer",
                    3.0,
                    None,
                ),
            ] {
                let Some(row) = find(comparison, cell) else {
                    continue;
                };
                let rps = median(&row["req_per_s_ratio"]);
                let p99 = median(&row["p99_ratio"]);
                let met = match (rps, p99, p99_at_most) {
                    (Some(r), _, None) => Some(r >= at_least),
                    (Some(r), Some(p), Some(limit)) => Some(r >= at_least && p <= limit),
                    _ => None,
                };
                rows.push(Row {
                    goal: goal.to_owned(),
                    cell: cell.clone(),
                    figure: match p99_at_most {
                        Some(_) => format!(
                            "{} req/s, {} p99",
                            show(&row["req_per_s_ratio"]),
                            show(&row["p99_ratio"])
                        ),
                        None => format!("{} req/s", show(&row["req_per_s_ratio"])),
                    },
                    met,
                });
            }
            for row in ratios.iter().filter(|r| {
                r["cell"] == cell.as_str()
                    && r["comparison"]
                        .as_str()
                        .is_some_and(|c| c.ends_with("no-op sinks / empty component"))
            }) {
                let function = row["comparison"]
                    .as_str()
                    .and_then(|c| c.split_whitespace().next())
                    .unwrap_or("?");
                rows.push(Row {
                    goal: format!(
                        "{function}, no-op sinks: >= 0.70 of the empty component's req/s"
                    ),
                    cell: cell.clone(),
                    figure: show(&row["req_per_s_ratio"]),
                    met: median(&row["req_per_s_ratio"]).map(|r| r >= 0.70),
                });
            }
        }
    }
    if let Some(core) = part("core_cost") {
        let goal = &core["goal"];
        rows.push(Row {
            goal: "20 KB GitHub delivery in wasm: p99 <= 1 ms of core cost".to_owned(),
            cell: "wasmtime run".to_owned(),
            figure: goal["wasm_p99_ns"]
                .as_f64()
                .map_or("-".to_owned(), |ns| format!("{:.2} ms", ns / 1e6)),
            met: goal["met"].as_bool(),
        });
    }
    if let Some(cold) = part("cold_start") {
        let warm = &cold["edge host, module cache warm"];
        rows.push(Row {
            goal: "edge host cold start, module cache warm: first 2xx <= 50 ms".to_owned(),
            cell: "edge host".to_owned(),
            figure: warm["median_ms"]
                .as_f64()
                .map_or("-".to_owned(), |ms| format!("{ms:.0} ms")),
            met: warm["median_ms"].as_f64().map(|ms| ms <= 50.0),
        });
    }
    if let Some(Value::Array(sizes)) = part("sizes") {
        for size in sizes {
            rows.push(Row {
                goal: format!(
                    "{}: components <= {} bytes, Workers <= {} bytes gzip",
                    size["function"].as_str().unwrap_or("?"),
                    size["budget"]["component"],
                    size["budget"]["workers_gzip"]
                ),
                cell: "sizes".to_owned(),
                figure: format!(
                    "WASI {}, Spin {}, Workers {} gzip",
                    size["wasi"]["bytes"], size["spin"]["bytes"], size["workers"]["gzip"]
                ),
                met: size["within"].as_bool(),
            });
        }
    }
    if let Some(total) = part("bench_time").and_then(|times| times["total"].as_f64()) {
        rows.push(Row {
            goal: "`cargo xtask bench` finishes within 15 minutes on 2 cores".to_owned(),
            cell: "the bench".to_owned(),
            figure: format!("{:.1} min", total / 60.0),
            met: Some(total <= 15.0 * 60.0),
        });
    }
    let mut md =
        String::from("| goal | where | measured (median (min-max)) | met |\n|---|---|---|---|\n");
    for row in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.goal,
            row.cell,
            row.figure,
            match row.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            }
        ));
    }
    md
}

fn median(range: &Value) -> Option<f64> {
    range["median"].as_f64()
}

fn show(range: &Value) -> String {
    match (
        range["median"].as_f64(),
        range["min"].as_f64(),
        range["max"].as_f64(),
    ) {
        (Some(median), Some(min), Some(max)) => format!("{median:.2}x ({min:.2}-{max:.2})"),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_goal_is_held_against_its_median() {
        let parts = [
            Part {
                key: "load",
                title: String::new(),
                json: json!({"ratios": [
                    {"comparison": "GitHub, forged signature, vs Node peer", "cell": "edge-wasi",
                     "req_per_s_ratio": {"min": 2.5, "median": 3.1, "max": 3.3}, "p99_ratio": null},
                    {"comparison": "ingest, stored, vs Deno peer", "cell": "edge-wasi",
                     "req_per_s_ratio": {"min": 1.9, "median": 2.1, "max": 2.2},
                     "p99_ratio": {"min": 0.4, "median": 0.6, "max": 0.7}},
                    {"comparison": "github_webhook no-op sinks / empty component", "cell": "edge-wasi",
                     "req_per_s_ratio": {"min": 0.6, "median": 0.69, "max": 0.8}, "p99_ratio": null},
                ]}),
                markdown: String::new(),
            },
            Part {
                key: "cold_start",
                title: String::new(),
                json: json!({"edge host, module cache warm": {"min_ms": 30.0, "median_ms": 34.0, "max_ms": 40.0}}),
                markdown: String::new(),
            },
        ];
        let md = table(&parts);
        let line = |needle: &str| {
            md.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("forged").ends_with("| yes |"), "{md}");
        // 2.1x the req/s but p99 0.6x: not met.
        assert!(line("ingest, real stack").ends_with("| **no** |"), "{md}");
        assert!(
            line("github_webhook, no-op sinks").ends_with("| **no** |"),
            "{md}"
        );
        assert!(
            line("cold start").contains("34 ms") && line("cold start").ends_with("| yes |"),
            "{md}"
        );
    }
}
