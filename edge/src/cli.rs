//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::link::Flavour;

/// Serves every component of a Spin application on one address, WASI-flavour or
/// Spin-flavour builds: routes, variables, key-value stores and outbound allow-lists come
/// from spin.toml, so the URL layout is the one `spin up` serves.
///
/// Variables resolve as under Spin: `SPIN_VARIABLE_<NAME>` in the environment, then the
/// --env-file files (same keys; a later file wins over an earlier one), then the
/// `default` in [variables]. A WASI-flavour component reads its variables as upper-case
/// environment variables, a Spin-flavour one through fermyon:spin/variables. Per component,
/// `[component.<id>.tool.edge]` may set `max_body_bytes` and `timeout_ms` (Spin ignores
/// `tool` tables).
///
/// Output: one JSON access-log line per request on stdout, host events as JSON lines on
/// stderr; components' stdout and stderr are passed through line by line.
#[derive(Debug, Parser)]
#[command(name = "edge", version, about, long_about)]
pub struct Args {
    /// The Spin manifest to serve.
    #[arg(long, value_name = "PATH", default_value = "spin.toml")]
    pub manifest: PathBuf,

    /// Directory with the builds; each component loads the file named like the file in its
    /// `source` [default: dist/wasi next to the manifest, dist/spin with --flavour spin].
    #[arg(long, value_name = "DIR")]
    pub components: Option<PathBuf>,

    /// How to link each component: `auto` takes the flavour from what the component imports
    /// (any fermyon: or spin: import makes it a Spin build); `wasi` or `spin` insists, and a
    /// component of the other flavour stops start-up.
    #[arg(long, value_enum, value_name = "FLAVOUR", default_value_t = FlavourChoice::Auto)]
    pub flavour: FlavourChoice,

    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// A dotenv file with `SPIN_VARIABLE_<NAME>=value` lines; repeatable. The process
    /// environment wins over every file, a later file over an earlier one.
    #[arg(long = "env-file", value_name = "PATH")]
    pub env_files: Vec<PathBuf>,

    /// Per-request deadline in seconds (fractions allowed); a component still running then
    /// is stopped and the client gets 504. `tool.edge.timeout_ms` overrides it per component.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub request_timeout: Duration,

    /// Request bodies above this many bytes get 413 before the component runs.
    /// `tool.edge.max_body_bytes` overrides it per component.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Instances that may run at once (the pooling allocator's size); requests beyond it wait
    /// for a free slot until their deadline, then get 503. Each routed component keeps one
    /// slot for itself, so a flood to one route cannot take them all; the rest are shared.
    /// Must be at least the number of routed components.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_instances: u32,

    /// Request-body bytes the host may hold at once, over all requests, in MiB. A body takes
    /// its content-length from this budget before it is read (a chunked body takes room as
    /// it arrives) and gives it back when its instance is done; one that finds no room gets
    /// 503 `overloaded` with retry-after, unread, and its connection is closed. Each routed
    /// component keeps room for one body of its own limit (max_body_bytes), so this must be
    /// at least the sum of those; the rest is shared.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_buffered_mb: u32,

    /// Connections open at once. Beyond it the host stops accepting: new connections wait in
    /// the listen backlog (once that is full the kernel drops new attempts) until one closes. An
    /// idle connection is closed after 30 s without a complete request head. Keep it below
    /// the open-file limit (ulimit -n).
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Largest linear memory one instance may grow to, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_memory_mb: u32,

    /// Keep compiled components in this directory and map them on the next start (one
    /// precompiled file per component build; safe to share between processes). Without it
    /// every start compiles.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Serve every request with a fresh instance, whatever a component's `tool.edge.reuse`
    /// says (to rule out state carried between requests, or to measure what reuse saves).
    #[arg(long)]
    pub no_reuse: bool,

    /// Write /tmp/perf-<pid>.map as guest code is loaded, so `perf record` / `perf report`
    /// name each component's own functions instead of showing them as unknown JIT addresses
    /// (as `wasmtime serve --profile perfmap`). For profiling; off by default.
    #[arg(long)]
    pub perf_map: bool,

    /// What `GET /health/ready` asks (say PostgREST, `http://127.0.0.1:54321/rest/v1/`): ready
    /// while it answers below 500 within 2 s. Without it, readiness is liveness.
    #[arg(long, value_name = "URL", value_parser = parse_ready_url)]
    pub ready_url: Option<http::Uri>,

    /// On Ctrl-C or SIGTERM: stop accepting, then give in-flight requests this many seconds
    /// (fractions allowed) to finish before closing their connections.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,
}

/// `--ready-url`: an absolute http or https URL.
fn parse_ready_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err("must be an absolute http:// or https:// URL".to_owned()),
    }
}

/// `--flavour`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlavourChoice {
    /// From each component's imports.
    Auto,
    /// WASI-flavour builds only.
    Wasi,
    /// Spin-flavour builds only.
    Spin,
}

impl Args {
    /// `--components`, or next to the manifest `dist/spin` with `--flavour spin`, else
    /// `dist/wasi`.
    #[must_use]
    pub fn components_dir(&self) -> PathBuf {
        self.components.clone().unwrap_or_else(|| {
            let flavour_dir = match self.flavour {
                FlavourChoice::Spin => "spin",
                FlavourChoice::Auto | FlavourChoice::Wasi => "wasi",
            };
            self.manifest
                .parent()
                .map_or_else(PathBuf::new, PathBuf::from)
                .join("dist")
                .join(flavour_dir)
        })
    }

    /// The flavour `--flavour` insists on, if any.
    #[must_use]
    pub fn forced_flavour(&self) -> Option<Flavour> {
        match self.flavour {
            FlavourChoice::Auto => None,
            FlavourChoice::Wasi => Some(Flavour::Wasi),
            FlavourChoice::Spin => Some(Flavour::Spin),
        }
    }

    /// `--max-buffered-mb` in bytes.
    #[must_use]
    pub fn max_buffered_bytes(&self) -> u64 {
        u64::from(self.max_buffered_mb).saturating_mul(1024 * 1024)
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{text} must be above 0 and at most 86400"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let args = Args::try_parse_from(["edge"]).unwrap();
        assert_eq!(args.manifest, PathBuf::from("spin.toml"));
        assert_eq!(args.components_dir(), PathBuf::from("dist/wasi"));
        assert_eq!(args.flavour, FlavourChoice::Auto);
        assert_eq!(args.forced_flavour(), None);
        assert_eq!(args.listen, "127.0.0.1:3000".parse().unwrap());
        assert!(args.env_files.is_empty());
        assert_eq!(args.request_timeout, Duration::from_secs(30));
        assert_eq!(args.max_body_bytes, 1024 * 1024);
        assert_eq!(args.max_instances, 64);
        assert_eq!(args.max_buffered_mb, 64);
        assert_eq!(args.max_connections, 512);
        assert_eq!(args.max_buffered_bytes(), 64 * 1024 * 1024);
    }

    #[test]
    fn components_default_next_to_the_manifest() {
        let args = Args::try_parse_from(["edge", "--manifest", "/srv/app/spin.toml"]).unwrap();
        assert_eq!(args.components_dir(), PathBuf::from("/srv/app/dist/wasi"));
    }

    #[test]
    fn a_forced_flavour_is_kept_and_spin_looks_in_dist_spin() {
        let spin = Args::try_parse_from(["edge", "--flavour", "spin"]).unwrap();
        assert_eq!(spin.forced_flavour(), Some(Flavour::Spin));
        assert_eq!(spin.components_dir(), PathBuf::from("dist/spin"));
        let wasi = Args::try_parse_from(["edge", "--flavour", "wasi"]).unwrap();
        assert_eq!(wasi.forced_flavour(), Some(Flavour::Wasi));
        assert_eq!(wasi.components_dir(), PathBuf::from("dist/wasi"));
        let given =
            Args::try_parse_from(["edge", "--flavour", "spin", "--components", "x"]).unwrap();
        assert_eq!(given.components_dir(), PathBuf::from("x"));
        assert!(Args::try_parse_from(["edge", "--flavour", "workers"]).is_err());
    }

    #[test]
    fn env_files_repeat_in_order() {
        let args =
            Args::try_parse_from(["edge", "--env-file", "a.env", "--env-file", "b.env"]).unwrap();
        assert_eq!(
            args.env_files,
            vec![PathBuf::from("a.env"), PathBuf::from("b.env")]
        );
    }

    #[test]
    fn timeouts_take_fractions_and_refuse_zero() {
        let args = Args::try_parse_from(["edge", "--request-timeout", "0.25"]).unwrap();
        assert_eq!(args.request_timeout, Duration::from_millis(250));
        assert!(Args::try_parse_from(["edge", "--request-timeout", "0"]).is_err());
        assert!(Args::try_parse_from(["edge", "--request-timeout", "soon"]).is_err());
        assert!(Args::try_parse_from(["edge", "--max-instances", "0"]).is_err());
        assert!(Args::try_parse_from(["edge", "--max-connections", "0"]).is_err());
        assert!(Args::try_parse_from(["edge", "--max-buffered-mb", "0"]).is_err());
    }

    #[test]
    fn help_documents_every_flag() {
        let help = Args::command().render_long_help().to_string();
        for flag in [
            "--manifest",
            "--components",
            "--flavour",
            "--listen",
            "--env-file",
            "--request-timeout",
            "--max-body-bytes",
            "--max-instances",
            "--max-buffered-mb",
            "--max-connections",
            "--max-memory-mb",
            "--shutdown-grace",
            "--cache-dir",
            "--perf-map",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        for default in [
            "[default: 64]",
            "[default: 512]",
            "[default: 1048576]",
            "[default: auto]",
        ] {
            assert!(help.contains(default), "{default} missing from --help");
        }
    }
}
