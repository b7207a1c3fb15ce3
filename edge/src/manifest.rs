//! spin.toml, read the way Spin reads it (manifest version 2), keeping only what the edge host
//! serves: application variables, HTTP triggers, and per component its source, variables,
//! environment, allowed outbound hosts, key-value store labels and the edge's own
//! `tool.edge` settings.
//!
//! The TOML is parsed into private wire structs and converted to the domain types below, so
//! the rest of the host never sees serde shapes.

use std::collections::BTreeMap;
use std::fmt;

/// The only manifest version the edge host reads (Spin 2.x and later).
const MANIFEST_VERSION: i64 = 2;

/// An application as the edge host serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Application variables by name (`[variables]`).
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]` entries, in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// Components by id (`[component.<id>]`).
    pub components: BTreeMap<String, ComponentDecl>,
}

/// One application variable.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// Used when no provider has a value; `None` means a value is required.
    pub default: Option<String>,
    /// Never printed.
    pub secret: bool,
}

impl fmt::Debug for VariableDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Defaults are shown only for non-secret variables.
        let default = match (&self.default, self.secret) {
            (Some(_), true) => Some("[redacted]"),
            (Some(value), false) => Some(value.as_str()),
            (None, _) => None,
        };
        f.debug_struct("VariableDecl")
            .field("default", &default)
            .field("secret", &self.secret)
            .finish()
    }
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route pattern as written (`/push_to_odoo/...`); `None` for `{ private = true }`.
    pub route: Option<String>,
    /// The component id it serves.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDecl {
    /// `source`, as written (relative to the manifest); the edge uses its file name.
    pub source: String,
    /// Component variables: lower-case name to template (`"{{ supabase_url }}/rest/v1"`).
    pub variables: BTreeMap<String, String>,
    /// `environment`: plain environment variables for the component.
    pub environment: BTreeMap<String, String>,
    /// `allowed_outbound_hosts`, unresolved templates.
    pub allowed_outbound_hosts: Vec<String>,
    /// `key_value_stores`: the store labels a Spin-flavour component may open.
    pub key_value_stores: Vec<String>,
    /// `[component.<id>.tool.edge]`.
    pub edge: EdgeSettings,
}

/// Per-component host settings from `[component.<id>.tool.edge]`, a table Spin ignores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeSettings {
    /// `max_body_bytes`: request-body limit; `None` uses the host default.
    pub max_body_bytes: Option<u64>,
    /// `timeout_ms`: per-request deadline; `None` uses `--request-timeout`.
    pub timeout_ms: Option<u64>,
    /// `reuse`: how many requests one instance may serve, one after another; `None` is 1,
    /// a fresh instance per request (see `reuse`).
    pub reuse: Option<u32>,
}

/// Why a manifest cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not TOML, or a field has the wrong shape.
    #[error("not a valid spin.toml: {0}")]
    Syntax(String),
    /// `spin_manifest_version` is missing or not 2.
    #[error("spin_manifest_version must be {MANIFEST_VERSION}, found {0}")]
    Version(String),
    /// A variable declares both `required = true` and a `default`.
    #[error("variable `{0}` is `required = true` and has a `default`; keep one of them")]
    RequiredWithDefault(String),
    /// A trigger names a component that has no `[component.<id>]` table.
    #[error(
        "trigger for route `{route}` names component `{component}`, which has no [component.{component}] table"
    )]
    UnknownComponent {
        /// The route of the trigger.
        route: String,
        /// The id it names.
        component: String,
    },
    /// A shape Spin accepts that the edge host does not serve.
    #[error("not supported by the edge host: {0}")]
    Unsupported(String),
}

/// Parses spin.toml text.
///
/// # Errors
/// [`ManifestError`] naming the field at fault.
pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let wire: wire::Manifest =
        toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
    match wire.spin_manifest_version {
        Some(toml::Value::Integer(MANIFEST_VERSION)) => {}
        Some(toml::Value::Integer(other)) => {
            return Err(ManifestError::Version(other.to_string()));
        }
        Some(other) => return Err(ManifestError::Version(format!("a {}", other.type_str()))),
        None => return Err(ManifestError::Version("nothing".to_owned())),
    }

    let mut variables = BTreeMap::new();
    for (name, decl) in wire.variables {
        if decl.required && decl.default.is_some() {
            return Err(ManifestError::RequiredWithDefault(name));
        }
        variables.insert(
            name,
            VariableDecl {
                default: decl.default,
                secret: decl.secret,
            },
        );
    }

    let mut components = BTreeMap::new();
    for (id, component) in wire.component {
        let source = match component.source {
            wire::Source::Path(path) => path,
            wire::Source::Remote(_) => {
                return Err(ManifestError::Unsupported(format!(
                    "component `{id}` has a remote `source` table; give a file path"
                )));
            }
        };
        let edge = match component.tool.get("edge") {
            Some(table) => parse_edge_settings(&id, table)?,
            None => EdgeSettings::default(),
        };
        components.insert(
            id,
            ComponentDecl {
                source,
                variables: component.variables,
                environment: component.environment,
                allowed_outbound_hosts: component.allowed_outbound_hosts,
                key_value_stores: component.key_value_stores,
                edge,
            },
        );
    }

    let mut triggers = Vec::new();
    for trigger in wire.trigger.http {
        let route = match trigger.route {
            wire::Route::Pattern(route) => Some(route),
            wire::Route::Private { private: true } => None,
            wire::Route::Private { private: false } => {
                return Err(ManifestError::Unsupported(
                    "a trigger route `{ private = false }`; write the route pattern".to_owned(),
                ));
            }
        };
        let component = match trigger.component {
            wire::ComponentRef::Id(id) => id,
            wire::ComponentRef::Inline(_) => {
                return Err(ManifestError::Unsupported(format!(
                    "an inline component table in the trigger for route `{}`; use `component = \"<id>\"`",
                    route.as_deref().unwrap_or("(private)")
                )));
            }
        };
        if !components.contains_key(&component) {
            return Err(ManifestError::UnknownComponent {
                route: route.unwrap_or_else(|| "(private)".to_owned()),
                component,
            });
        }
        triggers.push(HttpTrigger { route, component });
    }

    Ok(Manifest {
        variables,
        triggers,
        components,
    })
}

fn parse_edge_settings(id: &str, table: &toml::Table) -> Result<EdgeSettings, ManifestError> {
    let settings: wire::EdgeTool = table.clone().try_into().map_err(|e: toml::de::Error| {
        ManifestError::Syntax(format!("[component.{id}.tool.edge]: {}", e.message()))
    })?;
    for (key, value) in [
        ("timeout_ms", settings.timeout_ms),
        ("reuse", settings.reuse.map(u64::from)),
    ] {
        if value == Some(0) {
            return Err(ManifestError::Syntax(format!(
                "[component.{id}.tool.edge] {key} must be above 0"
            )));
        }
    }
    Ok(EdgeSettings {
        max_body_bytes: settings.max_body_bytes,
        timeout_ms: settings.timeout_ms,
        reuse: settings.reuse,
    })
}

/// The TOML shapes, as Spin documents them; only the fields the edge reads.
mod wire {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct Manifest {
        pub spin_manifest_version: Option<toml::Value>,
        #[serde(default)]
        pub variables: BTreeMap<String, Variable>,
        #[serde(default)]
        pub trigger: Triggers,
        #[serde(default)]
        pub component: BTreeMap<String, Component>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Variable {
        #[serde(default)]
        pub default: Option<String>,
        #[serde(default)]
        pub required: bool,
        #[serde(default)]
        pub secret: bool,
        #[serde(default)]
        #[allow(
            dead_code,
            reason = "accepted as Spin accepts it; the edge does not use it"
        )]
        pub description: Option<String>,
    }

    #[derive(Deserialize, Default)]
    pub(super) struct Triggers {
        #[serde(default)]
        pub http: Vec<HttpTrigger>,
    }

    #[derive(Deserialize)]
    pub(super) struct HttpTrigger {
        pub route: Route,
        pub component: ComponentRef,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Route {
        Pattern(String),
        Private { private: bool },
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum ComponentRef {
        Id(String),
        Inline(#[allow(dead_code, reason = "refused; only the shape matters")] toml::Table),
    }

    #[derive(Deserialize)]
    pub(super) struct Component {
        pub source: Source,
        #[serde(default)]
        pub variables: BTreeMap<String, String>,
        #[serde(default)]
        pub environment: BTreeMap<String, String>,
        #[serde(default)]
        pub allowed_outbound_hosts: Vec<String>,
        #[serde(default)]
        pub key_value_stores: Vec<String>,
        #[serde(default)]
        pub tool: BTreeMap<String, toml::Table>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Source {
        Path(String),
        Remote(#[allow(dead_code, reason = "refused; only the shape matters")] toml::Table),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct EdgeTool {
        #[serde(default)]
        pub max_body_bytes: Option<u64>,
        #[serde(default)]
        pub timeout_ms: Option<u64>,
        #[serde(default)]
        pub reuse: Option<u32>,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    const PROJECT_SHAPE: &str = r#"
spin_manifest_version = 2

[application]
name = "pulser-edge"
version = "0.1.0"

[variables]
edge_hmac_secret = { required = true, secret = true }
supabase_url = { required = true }
github_api_url = { default = "https://api.github.com" }

[[trigger.http]]
route = "/odoo_event_ingest"
component = "odoo-event-ingest"

[[trigger.http]]
route = "/push_to_odoo/..."
component = "push-to-odoo"

[[trigger.http]]
route = { private = true }
component = "push-to-odoo"

[component.odoo-event-ingest]
source = "dist/spin/odoo_event_ingest.wasm"
allowed_outbound_hosts = ["{{ supabase_url }}"]
key_value_stores = ["default", "tokens"]
[component.odoo-event-ingest.variables]
supabase_url = "{{ supabase_url }}"
edge_hmac_secret = "{{ edge_hmac_secret }}"
[component.odoo-event-ingest.tool.edge]
max_body_bytes = 2097152
timeout_ms = 5000
reuse = 64

[component.push-to-odoo]
source = "dist/spin/push_to_odoo.wasm"
environment = { RUST_LOG = "info" }
[component.push-to-odoo.build]
command = "cargo xtask build"
"#;

    #[test]
    fn reads_variables_triggers_and_components() {
        let manifest = parse(PROJECT_SHAPE).unwrap();
        assert_eq!(
            manifest.variables["edge_hmac_secret"],
            VariableDecl {
                default: None,
                secret: true
            }
        );
        assert_eq!(
            manifest.variables["github_api_url"].default.as_deref(),
            Some("https://api.github.com")
        );
        assert_eq!(
            manifest.triggers,
            vec![
                HttpTrigger {
                    route: Some("/odoo_event_ingest".into()),
                    component: "odoo-event-ingest".into()
                },
                HttpTrigger {
                    route: Some("/push_to_odoo/...".into()),
                    component: "push-to-odoo".into()
                },
                HttpTrigger {
                    route: None,
                    component: "push-to-odoo".into()
                },
            ]
        );
        let ingest = &manifest.components["odoo-event-ingest"];
        assert_eq!(ingest.source, "dist/spin/odoo_event_ingest.wasm");
        assert_eq!(ingest.allowed_outbound_hosts, vec!["{{ supabase_url }}"]);
        assert_eq!(ingest.variables["supabase_url"], "{{ supabase_url }}");
        assert_eq!(ingest.key_value_stores, vec!["default", "tokens"]);
        assert_eq!(
            ingest.edge,
            EdgeSettings {
                max_body_bytes: Some(2_097_152),
                timeout_ms: Some(5000),
                reuse: Some(64),
            }
        );
        let push = &manifest.components["push-to-odoo"];
        assert_eq!(push.edge, EdgeSettings::default());
        assert_eq!(push.environment["RUST_LOG"], "info");
        assert!(push.allowed_outbound_hosts.is_empty());
        assert!(push.key_value_stores.is_empty());
    }

    #[test]
    fn secret_defaults_are_redacted_in_debug() {
        let decl = VariableDecl {
            default: Some("hunter2".into()),
            secret: true,
        };
        assert!(!format!("{decl:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_a_missing_manifest_version() {
        let err = parse("[variables]\n").unwrap_err();
        assert_eq!(err, ManifestError::Version("nothing".into()));
    }

    #[test]
    fn rejects_manifest_version_1() {
        let err = parse("spin_manifest_version = 1\n").unwrap_err();
        assert_eq!(err, ManifestError::Version("1".into()));
    }

    #[test]
    fn rejects_required_with_default() {
        let err = parse(
            "spin_manifest_version = 2\n[variables]\nx = { required = true, default = \"a\" }\n",
        )
        .unwrap_err();
        assert_eq!(err, ManifestError::RequiredWithDefault("x".into()));
    }

    #[test]
    fn rejects_unknown_variable_fields() {
        let err =
            parse("spin_manifest_version = 2\n[variables]\nx = { defualt = \"a\" }\n").unwrap_err();
        assert!(matches!(err, ManifestError::Syntax(m) if m.contains("defualt")));
    }

    #[test]
    fn rejects_a_trigger_for_an_unknown_component() {
        let err = parse(
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"nope\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            ManifestError::UnknownComponent {
                route: "/a".into(),
                component: "nope".into()
            }
        );
        assert!(err.to_string().contains("[component.nope]"));
    }

    #[test]
    fn rejects_unknown_edge_tool_keys() {
        let err = parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\n[component.a.tool.edge]\nmax_body = 1\n",
        )
        .unwrap_err();
        assert!(
            matches!(&err, ManifestError::Syntax(m) if m.contains("[component.a.tool.edge]") && m.contains("max_body")),
            "{err}"
        );
    }

    #[test]
    fn ignores_other_tools_tables() {
        let manifest = parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\n[component.a.tool.spin-test]\nsource = \"t.wasm\"\n",
        )
        .unwrap();
        assert_eq!(manifest.components["a"].edge, EdgeSettings::default());
    }

    #[test]
    fn rejects_a_zero_timeout() {
        let err = parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\n[component.a.tool.edge]\ntimeout_ms = 0\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("timeout_ms"), "{err}");
    }

    #[test]
    fn rejects_a_zero_reuse() {
        let err = parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\n[component.a.tool.edge]\nreuse = 0\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("reuse must be above 0"), "{err}");
    }

    #[test]
    fn rejects_remote_sources() {
        let err = parse(
            "spin_manifest_version = 2\n[component.a]\nsource = { url = \"https://x/a.wasm\", digest = \"sha256:00\" }\n",
        )
        .unwrap_err();
        assert!(matches!(err, ManifestError::Unsupported(m) if m.contains("`a`")));
    }

    #[test]
    fn rejects_inline_trigger_components() {
        let err = parse(
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/a\"\ncomponent = { source = \"a.wasm\" }\n",
        )
        .unwrap_err();
        assert!(matches!(err, ManifestError::Unsupported(m) if m.contains("/a")));
    }
}
