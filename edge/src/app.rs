//! What to serve, worked out from the manifest and the variable values before anything is
//! compiled: per routed component its wasm file, variables, environment, key-value stores,
//! outbound allow-list and limits, and the route table. How the variables reach the component
//! depends on its flavour, known once it is compiled (see `guest`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::manifest::Manifest;
use crate::outbound::{AllowedHosts, HostPatternError};
use crate::routes::{Duplicate, RouteError, Router};
use crate::variables::{AppValues, ComponentVariables, VariableError};

/// Host-wide defaults a component's `tool.edge` table may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Request-body limit.
    pub max_body_bytes: u64,
    /// Per-request deadline.
    pub timeout: Duration,
}

/// One component, ready to compile and serve.
#[derive(Debug, Clone)]
pub struct ComponentPlan {
    /// The id in spin.toml.
    pub id: String,
    /// The file to load (either flavour).
    pub wasm: PathBuf,
    /// Its variables, rendered once here.
    pub variables: ComponentVariables,
    /// Its `environment` entries.
    pub environment: BTreeMap<String, String>,
    /// Its `key_value_stores` labels.
    pub key_value_stores: Vec<String>,
    /// Where it may send requests.
    pub allowed_hosts: AllowedHosts,
    /// Request bodies above this are refused with 413.
    pub max_body_bytes: u64,
    /// Requests running longer get 504.
    pub timeout: Duration,
    /// Requests one instance may serve in turn (1: a fresh instance for each).
    pub reuse: u32,
}

/// The whole application.
#[derive(Debug)]
pub struct AppPlan {
    /// Routed components, in id order.
    pub components: Vec<ComponentPlan>,
    /// Route pattern -> index into `components`.
    pub router: Router<usize>,
    /// Routes given twice (the later trigger wins).
    pub duplicates: Vec<Duplicate>,
}

/// Why the application cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A variable or template problem.
    #[error(transparent)]
    Variables(#[from] VariableError),
    /// A bad `allowed_outbound_hosts` entry.
    #[error("component `{component}`: {error}")]
    OutboundHosts {
        /// The component id.
        component: String,
        /// The entry at fault.
        error: HostPatternError,
    },
    /// A route the edge cannot serve.
    #[error(transparent)]
    Route(RouteError),
    /// A trigger names a component the manifest does not declare (the manifest parser already
    /// refuses this; kept so planning never assumes it).
    #[error("no [component.{0}] table")]
    UnknownComponent(String),
    /// A component `source` without a file name.
    #[error("component `{component}`: source {path:?} does not name a .wasm file")]
    Source {
        /// The component id.
        component: String,
        /// The `source` as written (not called `source`: thiserror would take it for the
        /// underlying error).
        path: String,
    },
}

/// Plans every component that a routed trigger serves; `components_dir` holds the builds under
/// the same file names as the manifest's `source` paths.
///
/// # Errors
/// [`PlanError`] naming the component, variable or route at fault.
pub fn plan(
    manifest: &Manifest,
    values: &AppValues,
    components_dir: &Path,
    defaults: Defaults,
) -> Result<AppPlan, PlanError> {
    let mut components: Vec<ComponentPlan> = Vec::new();
    let mut routes = Vec::new();
    for trigger in &manifest.triggers {
        let Some(route) = &trigger.route else {
            continue; // `{ private = true }`: not reachable over HTTP.
        };
        let index = match components.iter().position(|c| c.id == trigger.component) {
            Some(index) => index,
            None => {
                components.push(plan_component(
                    manifest,
                    values,
                    &trigger.component,
                    components_dir,
                    defaults,
                )?);
                components.len() - 1
            }
        };
        routes.push((route.clone(), index));
    }
    let (router, duplicates) = Router::build(routes).map_err(PlanError::Route)?;
    Ok(AppPlan {
        components,
        router,
        duplicates,
    })
}

fn plan_component(
    manifest: &Manifest,
    values: &AppValues,
    id: &str,
    components_dir: &Path,
    defaults: Defaults,
) -> Result<ComponentPlan, PlanError> {
    let component = manifest
        .components
        .get(id)
        .ok_or_else(|| PlanError::UnknownComponent(id.to_owned()))?;
    let file_name = Path::new(&component.source)
        .file_name()
        .filter(|name| Path::new(name).extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| PlanError::Source {
            component: id.to_owned(),
            path: component.source.clone(),
        })?;
    let variables = values.component_variables(id, component)?;
    let mut hosts = Vec::new();
    for (position, entry) in component.allowed_outbound_hosts.iter().enumerate() {
        let location = format!("[component.{id}] allowed_outbound_hosts[{position}]");
        hosts.push(values.render(entry, &location)?);
    }
    let allowed_hosts = AllowedHosts::parse(hosts.iter().map(String::as_str)).map_err(|error| {
        PlanError::OutboundHosts {
            component: id.to_owned(),
            error,
        }
    })?;
    Ok(ComponentPlan {
        id: id.to_owned(),
        wasm: components_dir.join(file_name),
        variables,
        environment: component.environment.clone(),
        key_value_stores: component.key_value_stores.clone(),
        allowed_hosts,
        max_body_bytes: component
            .edge
            .max_body_bytes
            .unwrap_or(defaults.max_body_bytes),
        timeout: component
            .edge
            .timeout_ms
            .map_or(defaults.timeout, Duration::from_millis),
        reuse: component.edge.reuse.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::manifest;
    use crate::outbound::Destination;
    use crate::variables::ValueSources;

    const DEFAULTS: Defaults = Defaults {
        max_body_bytes: 1024 * 1024,
        timeout: Duration::from_secs(30),
    };

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[variables]
supabase_url = { default = "https://abc.supabase.co" }
message = { default = "hi" }

[[trigger.http]]
route = "/one"
component = "one"
[[trigger.http]]
route = "/one/alias/..."
component = "one"
[[trigger.http]]
route = "/two/..."
component = "two"
[[trigger.http]]
route = { private = true }
component = "hidden"

[component.one]
source = "dist/spin/probe.wasm"
allowed_outbound_hosts = ["{{ supabase_url }}", "http://127.0.0.1:*"]
variables = { probe_message = "{{ message }} from one" }
key_value_stores = ["default"]
[component.one.tool.edge]
max_body_bytes = 10
timeout_ms = 250

[component.two]
source = "dist/spin/other.wasm"

[component.hidden]
source = "dist/spin/hidden.wasm"
"#;

    fn planned(text: &str) -> Result<AppPlan, PlanError> {
        let manifest = manifest::parse(text).unwrap();
        let values = AppValues::resolve(&manifest, &ValueSources::default()).unwrap();
        plan(&manifest, &values, Path::new("/dist/wasi"), DEFAULTS)
    }

    #[test]
    fn plans_routed_components_once_each() {
        let app = planned(MANIFEST).unwrap();
        let ids: Vec<_> = app.components.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["one", "two"],
            "private-only components are not served"
        );
        let one = &app.components[0];
        assert_eq!(one.wasm, Path::new("/dist/wasi/probe.wasm"));
        assert_eq!(one.max_body_bytes, 10);
        assert_eq!(one.timeout, Duration::from_millis(250));
        assert_eq!(one.variables.get("probe_message"), Some("hi from one"));
        assert_eq!(one.key_value_stores, vec!["default"]);
        assert!(app.components[1].key_value_stores.is_empty());
        let two = &app.components[1];
        assert_eq!(two.max_body_bytes, DEFAULTS.max_body_bytes);
        assert_eq!(two.timeout, DEFAULTS.timeout);
        assert_eq!(app.router.route("/one/alias/x").map(|m| *m.target), Some(0));
        assert_eq!(app.router.route("/two").map(|m| *m.target), Some(1));
    }

    #[test]
    fn outbound_templates_are_resolved() {
        let app = planned(MANIFEST).unwrap();
        let one = &app.components[0];
        let to = |url: &str| Destination::of(&url.parse().unwrap()).unwrap();
        assert!(
            one.allowed_hosts
                .allows(&to("https://abc.supabase.co/rest/v1/x"))
        );
        assert!(one.allowed_hosts.allows(&to("http://127.0.0.1:9999/")));
        assert!(!one.allowed_hosts.allows(&to("https://example.com/")));
        assert!(
            !app.components[1]
                .allowed_hosts
                .allows(&to("https://abc.supabase.co/"))
        );
    }

    #[test]
    fn a_bad_outbound_entry_names_the_component() {
        let err = planned(
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\nallowed_outbound_hosts = [\"example.com\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("component `a`"), "{err}");
    }

    #[test]
    fn a_source_must_name_a_wasm_file() {
        let err = planned(
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\n[component.a]\nsource = \"dist/\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            PlanError::Source {
                component: "a".into(),
                path: "dist/".into()
            }
        );
    }
}
