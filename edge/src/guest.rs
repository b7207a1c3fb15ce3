//! What every instance of one component is given, which depends on its flavour: the same
//! variables (rendered once at start-up) reach a WASI-flavour component as upper-case
//! environment variables, and a Spin-flavour one through `fermyon:spin/variables`, with only
//! its `environment` entries in its environment and its `key_value_stores` to open, as under
//! Spin.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::link::Flavour;
use crate::spin::SpinConfig;
use crate::spin::stores::Stores;
use crate::variables::{ComponentEnvironment, ComponentVariables, VariableError};

/// One component's instances' inputs.
#[derive(Debug, Clone)]
pub struct Guest {
    /// Its WASI environment.
    pub environment: ComponentEnvironment,
    /// Its Spin variables and stores (empty for the WASI flavour, which cannot reach them).
    pub spin: SpinConfig,
}

/// The component's side of spin.toml, as planned.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    /// Its id.
    pub id: &'a str,
    /// `[component.<id>.variables]`, rendered.
    pub variables: &'a ComponentVariables,
    /// Its `environment` entries.
    pub environment: &'a BTreeMap<String, String>,
    /// Its `key_value_stores` labels.
    pub key_value_stores: &'a [String],
}

impl Guest {
    /// The inputs for a component of `flavour`; a Spin component is granted its labels'
    /// stores from `stores`, the process's.
    ///
    /// # Errors
    /// [`VariableError::EnvironmentClash`] for a WASI component whose `environment` has the
    /// upper-case name of one of its variables.
    pub fn new(
        flavour: Flavour,
        declared: Declared<'_>,
        stores: &mut Stores,
    ) -> Result<Self, VariableError> {
        Ok(match flavour {
            Flavour::Wasi => Self {
                environment: declared
                    .variables
                    .wasi_environment(declared.id, declared.environment)?,
                spin: SpinConfig::default(),
            },
            Flavour::Spin => Self {
                environment: ComponentEnvironment::plain(declared.environment),
                spin: SpinConfig {
                    variables: Arc::new(declared.variables.clone()),
                    stores: Arc::new(
                        stores.grant(declared.key_value_stores.iter().map(String::as_str)),
                    ),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::manifest;
    use crate::spin::stores::MAX_STORE_BYTES;
    use crate::variables::{AppValues, ValueSources};

    /// Component `fn` with a variable and an environment entry; `environment` is its
    /// `environment` table.
    fn manifest_with(environment: &str) -> String {
        format!(
            r#"
spin_manifest_version = 2
[variables]
supabase_url = {{ default = "http://db" }}

[component.fn]
source = "fn.wasm"
environment = {{ {environment} }}
key_value_stores = ["default"]
variables = {{ supabase_url = "{{{{ supabase_url }}}}" }}
"#
        )
    }

    fn guest(manifest: &str, flavour: Flavour) -> Result<Guest, VariableError> {
        let manifest = manifest::parse(manifest).unwrap();
        let component = &manifest.components["fn"];
        let variables = AppValues::resolve(&manifest, &ValueSources::default())
            .unwrap()
            .component_variables("fn", component)
            .unwrap();
        let declared = Declared {
            id: "fn",
            variables: &variables,
            environment: &component.environment,
            key_value_stores: &component.key_value_stores,
        };
        Guest::new(flavour, declared, &mut Stores::new(MAX_STORE_BYTES))
    }

    #[test]
    fn a_spin_component_gets_its_variables_and_stores_and_only_its_environment_entries() {
        let manifest = manifest_with(r#"RUST_LOG = "info", SUPABASE_URL = "from environment""#);
        let spin = guest(&manifest, Flavour::Spin).unwrap();
        assert_eq!(spin.spin.variables.get("supabase_url"), Some("http://db"));
        assert!(spin.spin.stores.get("default").is_some());
        let environment: Vec<_> = spin.environment.pairs().collect();
        assert_eq!(
            environment,
            vec![("RUST_LOG", "info"), ("SUPABASE_URL", "from environment")],
            "as under Spin, a variable is no environment variable, so nothing clashes"
        );
    }

    #[test]
    fn a_wasi_component_gets_its_variables_as_environment_variables() {
        let wasi = guest(&manifest_with(r#"RUST_LOG = "info""#), Flavour::Wasi).unwrap();
        let environment: Vec<_> = wasi.environment.pairs().collect();
        assert_eq!(
            environment,
            vec![("RUST_LOG", "info"), ("SUPABASE_URL", "http://db")]
        );
        assert_eq!(wasi.spin.variables.names().count(), 0);
        assert!(
            wasi.spin.stores.get("default").is_none(),
            "a WASI build has no key-value interface to open it with"
        );
    }

    #[test]
    fn a_wasi_components_environment_entry_may_not_shadow_a_variable() {
        let manifest = manifest_with(r#"SUPABASE_URL = "from environment""#);
        assert_eq!(
            guest(&manifest, Flavour::Wasi).unwrap_err(),
            VariableError::EnvironmentClash {
                component: "fn".into(),
                name: "SUPABASE_URL".into()
            }
        );
    }
}
