//! `fermyon:spin/variables@2.0.0`: `get(name)` answers the component's own variables
//! (`[component.<id>.variables]`), rendered once at start-up from the application's
//! `[variables]` (see `crate::variables`), as Spin answers them:
//!
//! - a name Spin would refuse (upper case, a dash, `__`, ...) is `invalid-name`, so a
//!   component that works here does not meet a refusal under `spin up`;
//! - a valid name the component binds no variable to is `undefined`, even when `[variables]`
//!   declares it: application variables reach a component only through its own bindings.
//!
//! Nothing is resolved per call: `provider` and `other` never happen here.

use super::bindings::fermyon::spin::variables::Host;
use super::{SpinView, VariablesError};
use crate::variables::validate_name;

impl Host for SpinView<'_> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VariablesError>> {
        if let Err(invalid) = validate_name(&name) {
            return Ok(Err(VariablesError::InvalidName(invalid.to_string())));
        }
        Ok(match self.ctx.config.variables.get(&name) {
            Some(value) => Ok(value.to_owned()),
            None => Err(VariablesError::Undefined(format!(
                "component `{component}` has no variable `{name}`: bind it in [component.{component}.variables]",
                component = self.ctx.component
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::sync::Arc;

    use wasmtime::component::ResourceTable;

    use super::*;
    use crate::manifest;
    use crate::spin::{SpinConfig, SpinCtx};
    use crate::variables::{AppValues, ValueSources};

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[variables]
greeting = { default = "hello" }
target = { required = true }
unbound = { default = "not for this component" }

[component.greeter]
source = "greeter.wasm"
[component.greeter.variables]
message = "{{ greeting }}, {{ target }}"
greeting = "{{ greeting }}"
fixed = "no templates here"
"#;

    /// `get(name)` as one instance of `greeter` sees it, with `SPIN_VARIABLE_TARGET=world`.
    fn get(name: &str) -> Result<String, VariablesError> {
        let manifest = manifest::parse(MANIFEST).unwrap();
        let sources = ValueSources::from_environment([(
            "SPIN_VARIABLE_TARGET".to_owned(),
            "world".to_owned(),
        )]);
        let variables = AppValues::resolve(&manifest, &sources)
            .unwrap()
            .component_variables("greeter", &manifest.components["greeter"])
            .unwrap();
        let config = SpinConfig {
            variables: Arc::new(variables),
            ..SpinConfig::default()
        };
        let mut ctx = SpinCtx::new(Arc::from("greeter"), config);
        let mut table = ResourceTable::new();
        let mut view = SpinView {
            ctx: &mut ctx,
            table: &mut table,
        };
        Host::get(&mut view, name.to_owned()).unwrap()
    }

    #[test]
    fn a_bound_variable_is_its_rendered_template() {
        assert_eq!(get("message").unwrap(), "hello, world");
        assert_eq!(get("fixed").unwrap(), "no templates here");
    }

    #[test]
    fn a_default_applies_when_no_source_has_a_value() {
        assert_eq!(get("greeting").unwrap(), "hello");
    }

    #[test]
    fn a_name_the_component_does_not_bind_is_undefined() {
        for name in ["nope", "target", "unbound"] {
            match get(name) {
                Err(VariablesError::Undefined(message)) => {
                    assert!(message.contains(&format!("`{name}`")), "{message}");
                    assert!(
                        message.contains("[component.greeter.variables]"),
                        "{message}"
                    );
                }
                other => panic!("{name}: expected undefined, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_name_spin_would_refuse_is_invalid_name() {
        for name in ["MESSAGE", "", "a-b", "a__b", "1st", "message_"] {
            match get(name) {
                Err(VariablesError::InvalidName(message)) => {
                    assert!(message.contains("invalid variable name"), "{message}");
                }
                other => panic!("{name:?}: expected invalid-name, got {other:?}"),
            }
        }
    }
}
