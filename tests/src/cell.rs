//! The runtime cells the black-box suites run on: one build of the functions on one runtime.
//!
//! Every suite that speaks HTTP to a function is written once; `cargo xtask test` runs it once
//! per cell with `PULSER_CELL` set, and [`crate::stack::Stack`] starts that cell's runtime:
//!
//! | cell             | runtime                              | build           | processes        |
//! |------------------|--------------------------------------|-----------------|------------------|
//! | `edge-wasi`      | the edge host                        | `dist/wasi`     | one, spin.toml   |
//! | `edge-spin`      | the edge host                        | `dist/spin`     | one, spin.toml   |
//! | `wasmtime-serve` | `wasmtime serve -S cli --env ...`    | `dist/wasi`     | one per function |
//! | `workerd`        | workerd                              | `dist/workers`  | one per function |
//!
//! Where runtimes differ in what they can do, the suites ask the cell by name (the methods
//! below, each saying what the runtime does instead) and assert that behaviour; nothing is
//! skipped. A plain `cargo test` runs the `edge-wasi` cell.

use std::collections::BTreeMap;
use std::path::Path;

/// One runtime x build combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The edge host serving the WASI builds.
    EdgeWasi,
    /// The edge host serving the Spin builds (as `spin up` would).
    EdgeSpin,
    /// `wasmtime serve -S cli`, one process per function, settings passed with `--env`.
    WasmtimeServe,
    /// workerd, one Worker per function, settings as text bindings.
    Workerd,
}

/// The variable that picks the cell.
pub const CELL_VAR: &str = "PULSER_CELL";

impl Cell {
    /// Every cell, in the order the matrix prints them.
    pub const ALL: [Self; 4] = [
        Self::EdgeWasi,
        Self::EdgeSpin,
        Self::WasmtimeServe,
        Self::Workerd,
    ];

    /// The name `PULSER_CELL` takes and the matrix prints.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EdgeWasi => "edge-wasi",
            Self::EdgeSpin => "edge-spin",
            Self::WasmtimeServe => "wasmtime-serve",
            Self::Workerd => "workerd",
        }
    }

    /// The cell named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The cell this test process runs: `PULSER_CELL`, else `edge-wasi`. An unknown name
    /// panics, so a typo never runs the wrong cell.
    pub fn current() -> Self {
        match std::env::var(CELL_VAR) {
            Ok(name) if !name.is_empty() => Self::parse(&name).unwrap_or_else(|| {
                panic!(
                    "{CELL_VAR}={name}: not a cell; one of {:?}",
                    Self::ALL.map(Self::name)
                )
            }),
            _ => Self::EdgeWasi,
        }
    }

    /// Whether the functions run in the edge host (one process, spin.toml's routes).
    pub const fn is_edge(self) -> bool {
        matches!(self, Self::EdgeWasi | Self::EdgeSpin)
    }

    /// How long git_ops_dispatch's installation token lives between requests.
    ///
    /// The Spin build keeps it in Spin key-value (the edge host's in-process store), the
    /// Workers build in the isolate's memory, which workerd keeps across requests. The WASI
    /// build has no store and keeps it in instance memory: the edge host keeps an instance
    /// for later requests (spin.toml's `reuse`), `wasmtime serve` gives every request a fresh
    /// one, so there each dispatch mints its own token.
    pub const fn token_cache(self) -> TokenCache {
        match self {
            Self::EdgeSpin | Self::Workerd => TokenCache::AcrossRequests,
            Self::EdgeWasi => TokenCache::PerInstance,
            Self::WasmtimeServe => TokenCache::PerRequest,
        }
    }

    /// Whether the host enforces spin.toml's `allowed_outbound_hosts`. `wasmtime serve`
    /// and workerd have no allow-list: a function there may reach any host its settings name.
    pub const fn enforces_outbound_allow_list(self) -> bool {
        self.is_edge()
    }

    /// Whether the host stops a component at a wall-clock deadline (the edge host's
    /// `--request-timeout`, 504 `timeout`). `wasmtime serve` has none, and workerd limits
    /// CPU time, not waiting: there the function's own outbound timeouts end the request.
    pub const fn has_request_deadline(self) -> bool {
        self.is_edge()
    }

    /// Whether oasis_events' rate limit counts a client's requests across requests here.
    ///
    /// The Spin build counts in Spin key-value (the edge host's store), the Workers build in
    /// the isolate's memory, which workerd keeps (deployed with the `OASIS_RATE_LIMITER`
    /// binding, Cloudflare's limiter counts instead; workerd has no such binding). The WASI
    /// build has nowhere to count: no store, and it never counts in an instance's memory
    /// (the edge host may keep one for several requests, `wasmtime serve` does not), so
    /// there every request within the limit's reach is answered.
    pub const fn counts_rate_limit(self) -> bool {
        matches!(self, Self::EdgeSpin | Self::Workerd)
    }

    /// The error code a write answers when PostgREST refuses connections. The wasi:http
    /// hosts report a refused connection as such: nothing was sent, 503 `store_unavailable`.
    /// Workers' `fetch` reports every network failure alike, so there the write's outcome is
    /// unknown: 503 `store_outcome_unknown` (a retry is safe either way).
    pub const fn unreachable_write_error(self) -> &'static str {
        match self {
            Self::Workerd => "store_outcome_unknown",
            Self::EdgeWasi | Self::EdgeSpin | Self::WasmtimeServe => "store_unavailable",
        }
    }
}

/// See [`Cell::token_cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCache {
    /// One token serves every request until it nears expiry.
    AcrossRequests,
    /// One token per kept instance: requests one after another share it once the instance
    /// that served the first is back on the host's shelf (a moment after its answer).
    PerInstance,
    /// Every request mints (and exchanges) its own token.
    PerRequest,
}

/// One function as spin.toml declares it: where it is routed and the settings it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDecl {
    /// The crate directory under `functions/` (`push_to_odoo`), the stem of its `source`.
    pub function: String,
    /// Its routes (one per `[[trigger.http]]` naming its component), in spin.toml's order.
    pub routes: Vec<RouteDecl>,
    /// Component variable name (lower case) -> its template over application variables.
    pub bindings: BTreeMap<String, String>,
}

/// One route of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecl {
    /// The route without Spin's trailing `/...` wildcard (`/push_to_odoo`).
    pub path: String,
    /// Whether the route is a wildcard (`/push_to_odoo/...`) or exact.
    pub wildcard: bool,
}

impl RouteDecl {
    /// Whether `path` (without its query) is served by this route, as Spin routes.
    pub fn serves(&self, path: &str) -> bool {
        let path = path.split('?').next().unwrap_or_default();
        path == self.path
            || (self.wildcard
                && path
                    .strip_prefix(self.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

impl FunctionDecl {
    /// Whether `path` (without its query) is served by one of this function's routes.
    pub fn serves(&self, path: &str) -> bool {
        self.routes.iter().any(|route| route.serves(path))
    }

    /// The settings this function sees, upper-case names as every runtime passes them:
    /// each binding's template rendered over `values` (upper-case application variable
    /// names), an application variable missing there taking its spin.toml default.
    ///
    /// # Panics
    /// When a template names a variable with neither a value nor a default.
    pub fn settings(
        &self,
        values: &BTreeMap<String, String>,
        defaults: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        self.bindings
            .iter()
            .map(|(name, template)| {
                (
                    name.to_ascii_uppercase(),
                    render(template, values, defaults, &self.function),
                )
            })
            .collect()
    }
}

/// spin.toml's functions and application variable defaults.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// One per component with a `[[trigger.http]]` (a component may have several routes).
    pub functions: Vec<FunctionDecl>,
    /// Application variable (lower case) -> its `default`, for those that have one.
    pub defaults: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads `path` (the project's spin.toml).
    ///
    /// # Panics
    /// When the file is missing or not the manifest shape the project uses.
    pub fn read(path: &Path) -> Self {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let defaults = doc
            .get("variables")
            .and_then(toml::Value::as_table)
            .into_iter()
            .flatten()
            .filter_map(|(name, decl)| {
                let default = decl.get("default")?.as_str()?;
                Some((name.clone(), default.to_owned()))
            })
            .collect();
        let components = doc.get("component").and_then(toml::Value::as_table);
        let triggers = doc
            .get("trigger")
            .and_then(|t| t.get("http"))
            .and_then(toml::Value::as_array)
            .unwrap_or_else(|| panic!("{}: no [[trigger.http]]", path.display()));
        let mut functions: Vec<FunctionDecl> = Vec::new();
        for decl in triggers.iter().map(|trigger| {
            let text = |v: Option<&toml::Value>, what: &str| {
                v.and_then(toml::Value::as_str)
                    .unwrap_or_else(|| panic!("{}: a trigger without {what}", path.display()))
                    .to_owned()
            };
            let route = text(trigger.get("route"), "route");
            let id = text(trigger.get("component"), "component");
            let component = components
                .and_then(|c| c.get(&id))
                .unwrap_or_else(|| panic!("{}: no [component.{id}]", path.display()));
            let source = text(component.get("source"), "source");
            let function = Path::new(&source)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bindings = component
                .get("variables")
                .and_then(toml::Value::as_table)
                .into_iter()
                .flatten()
                .map(|(name, template)| {
                    (
                        name.clone(),
                        template.as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let (path, wildcard) = match route.strip_suffix("/...") {
                Some(prefix) => (prefix.to_owned(), true),
                None => (route, false),
            };
            FunctionDecl {
                function,
                routes: vec![RouteDecl { path, wildcard }],
                bindings,
            }
        }) {
            match functions.iter_mut().find(|f| f.function == decl.function) {
                Some(known) => known.routes.extend(decl.routes),
                None => functions.push(decl),
            }
        }
        Self {
            functions,
            defaults,
        }
    }

    /// The function whose route serves `path`.
    pub fn function_for(&self, path: &str) -> Option<&FunctionDecl> {
        self.functions.iter().find(|f| f.serves(path))
    }
}

/// Renders `{{ name }}` templates (Spin's syntax) over `values` (upper-case names).
fn render(
    template: &str,
    values: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
    function: &str,
) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("{function}: unclosed template {template:?}"));
        let name = after[..end].trim();
        let value = values
            .get(&name.to_ascii_uppercase())
            .or_else(|| defaults.get(name))
            .unwrap_or_else(|| {
                panic!("{function}: `{name}` has no value in the stack and no default")
            });
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use std::collections::BTreeMap;

    use super::{Cell, Manifest};
    use crate::stack::project_root;

    #[test]
    fn every_cell_round_trips_its_name() {
        for cell in Cell::ALL {
            assert_eq!(Cell::parse(cell.name()), Some(cell));
        }
        assert_eq!(Cell::parse("spin"), None);
    }

    #[test]
    fn the_project_manifest_routes_each_path_to_one_function() {
        let manifest = Manifest::read(&project_root().join("spin.toml"));
        let routed = |path: &str| manifest.function_for(path).map(|f| f.function.as_str());
        assert_eq!(routed("/odoo_event_ingest"), Some("odoo_event_ingest"));
        assert_eq!(routed("/push_to_odoo"), Some("push_to_odoo"));
        assert_eq!(routed("/push_to_odoo/drain?x=1"), Some("push_to_odoo"));
        assert_eq!(routed("/webhooks/github"), Some("github_webhook"));
        assert_eq!(routed("/pulser/git-ops"), Some("git_ops_dispatch"));
        for (path, function) in [
            ("/odoo_event_ingest/health", "odoo_event_ingest"),
            ("/push_to_odoo/health", "push_to_odoo"),
            ("/webhooks/github/health", "github_webhook"),
            ("/pulser/git-ops/health", "git_ops_dispatch"),
        ] {
            assert_eq!(routed(path), Some(function), "{path}");
        }
        for path in [
            "/api/v1/oasis/events",
            "/events?vtid=X",
            "/api/v1/devhub/feed",
            "/api/v1/oasis/health",
        ] {
            assert_eq!(routed(path), Some("oasis_events"), "{path}");
        }
        assert_eq!(
            manifest
                .functions
                .iter()
                .filter(|f| f.function == "oasis_events")
                .count(),
            1,
            "one function, however many routes"
        );
        assert_eq!(routed("/push_to_odoox"), None);
        assert_eq!(routed("/nowhere"), None);
    }

    #[test]
    fn settings_render_bindings_over_values_then_defaults() {
        let manifest = Manifest::read(&project_root().join("spin.toml"));
        let push = manifest.function_for("/push_to_odoo").unwrap();
        let values = BTreeMap::from([
            ("SUPABASE_URL".to_owned(), "http://db".to_owned()),
            ("OUTBOX_LEASE_SECS".to_owned(), "60".to_owned()),
        ]);
        let mut defaults = manifest.defaults.clone();
        for name in push.bindings.keys() {
            defaults.entry(name.clone()).or_insert_with(|| "x".into());
        }
        let settings: BTreeMap<String, String> =
            push.settings(&values, &defaults).into_iter().collect();
        assert_eq!(settings["SUPABASE_URL"], "http://db");
        assert_eq!(settings["OUTBOX_LEASE_SECS"], "60");
        assert_eq!(settings["OUTBOX_MAX_ATTEMPTS"], "8", "spin.toml's default");
        assert!(
            !settings.contains_key("GITHUB_WEBHOOK_SECRET"),
            "only the function's own bindings"
        );
    }
}
