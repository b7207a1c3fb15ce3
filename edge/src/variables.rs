//! Variables, resolved the way Spin resolves them.
//!
//! - Application variables (`[variables]`) take their value from the first source that has
//!   one: the process environment as `SPIN_VARIABLE_<NAME>` (upper case), then the dotenv files
//!   given with `--env-file` (same `SPIN_VARIABLE_<NAME>` keys; a later file wins over an
//!   earlier one), then the variable's `default`. A variable without a default and without a
//!   value stops start-up, as under `spin up`.
//! - Component variables (`[component.<id>.variables]`) are templates over application
//!   variables: `"{{ supabase_url }}"`, or mixed with text: `"{{ supabase_url }}/rest/v1"`.
//! - Each component's variables are rendered once, at start-up. A WASI-flavour component sees
//!   them as environment variables with upper-case names (`supabase_url` -> `SUPABASE_URL`),
//!   which is where the WASI adapter reads config; a Spin-flavour component asks for them by
//!   name through `fermyon:spin/variables` (see `crate::spin::variables`).
//!
//! Nothing here touches the process: the environment and the dotenv files arrive as values.

use std::collections::BTreeMap;
use std::fmt;

use crate::manifest::{ComponentDecl, Manifest};

/// The prefix Spin's environment provider puts before an upper-cased variable name.
pub const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Why the variables cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VariableError {
    /// A variable name Spin would reject.
    #[error("invalid variable name `{name}`: {reason}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A template with an unclosed `{{`.
    #[error("{location}: unmatched `{{{{` in template")]
    UnclosedTemplate {
        /// Where the template is (`component.a.variables.x`).
        location: String,
    },
    /// A template names a variable that `[variables]` does not declare.
    #[error("{location}: template uses `{name}`, which is not declared in [variables]")]
    UndeclaredVariable {
        /// Where the template is.
        location: String,
        /// The name inside `{{ }}`.
        name: String,
    },
    /// A variable with no default and no value from the environment or an env file.
    #[error(
        "variable `{name}` is required and has no value: set {} in the environment or in an --env-file",
        env_key(.name)
    )]
    Missing {
        /// The application variable.
        name: String,
    },
    /// A component variable and an `environment` entry give the same environment name.
    #[error("component `{component}`: `{name}` is set both by a variable and by `environment`")]
    EnvironmentClash {
        /// The component id.
        component: String,
        /// The environment name both produce.
        name: String,
    },
}

/// `SPIN_VARIABLE_<NAME>` for an application variable.
#[must_use]
pub fn env_key(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// Checks a variable name the way Spin does: lower-case ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
///
/// # Errors
/// [`VariableError::InvalidName`] saying which rule is broken.
pub fn validate_name(name: &str) -> Result<(), VariableError> {
    let invalid = |reason| {
        Err(VariableError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return invalid("must not be empty");
    };
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    {
        return invalid("only lower-case letters, digits and underscores are allowed");
    }
    if !first.is_ascii_lowercase() {
        return invalid("must start with a lower-case letter");
    }
    if !last.is_ascii_alphanumeric() {
        return invalid("must end with a letter or a digit");
    }
    if name.contains("__") {
        return invalid("must not contain two underscores in a row");
    }
    Ok(())
}

/// A Spin template: literal text with `{{ name }}` expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Splits `text` into literals and `{{ ... }}` expressions (trimmed).
    ///
    /// # Errors
    /// [`VariableError::UnclosedTemplate`] for a `{{` without `}}`.
    pub fn parse(text: &str, location: &str) -> Result<Self, VariableError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let Some((expression, after_close)) = after_open.split_once("}}") else {
                    return Err(VariableError::UnclosedTemplate {
                        location: location.to_owned(),
                    });
                };
                parts.push(Part::Variable(expression.trim().to_owned()));
                rest = after_close;
            } else {
                let (literal, after) = rest.split_at(rest.find("{{").unwrap_or(rest.len()));
                parts.push(Part::Literal(literal.to_owned()));
                rest = after;
            }
        }
        Ok(Self { parts })
    }

    fn render(&self, values: &AppValues, location: &str) -> Result<String, VariableError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name, location)?),
            }
        }
        Ok(out)
    }
}

/// Where application variable values come from, in Spin's order: the process environment,
/// then the env files (the later file first), each keyed `SPIN_VARIABLE_<NAME>`.
#[derive(Default)]
pub struct ValueSources {
    environment: BTreeMap<String, String>,
    env_files: Vec<BTreeMap<String, String>>,
}

impl fmt::Debug for ValueSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys only: values may be secrets.
        f.debug_struct("ValueSources")
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .field(
                "env_files",
                &self
                    .env_files
                    .iter()
                    .map(|file| file.keys().collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ValueSources {
    /// Sources from the process environment's `(key, value)` pairs; keys without the
    /// `SPIN_VARIABLE_` prefix are ignored.
    #[must_use]
    pub fn from_environment(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            environment: vars
                .into_iter()
                .filter(|(key, _)| key.starts_with(ENV_PREFIX))
                .collect(),
            env_files: Vec::new(),
        }
    }

    /// Adds one parsed env file; files added later take precedence over earlier ones, the
    /// environment over all of them.
    pub fn add_env_file(&mut self, entries: impl IntoIterator<Item = (String, String)>) {
        self.env_files.push(entries.into_iter().collect());
    }

    fn get(&self, name: &str) -> Option<&str> {
        let key = env_key(name);
        self.environment
            .get(&key)
            .or_else(|| self.env_files.iter().rev().find_map(|file| file.get(&key)))
            .map(String::as_str)
    }
}

/// Every application variable with its value.
pub struct AppValues {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for AppValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl AppValues {
    /// Resolves every declared application variable.
    ///
    /// # Errors
    /// [`VariableError::InvalidName`] for a name Spin rejects, [`VariableError::Missing`] for
    /// the first variable (by name) without a default and without a value.
    pub fn resolve(manifest: &Manifest, sources: &ValueSources) -> Result<Self, VariableError> {
        let mut values = BTreeMap::new();
        for (name, decl) in &manifest.variables {
            validate_name(name)?;
            let value = sources
                .get(name)
                .map(str::to_owned)
                .or_else(|| decl.default.clone())
                .ok_or_else(|| VariableError::Missing { name: name.clone() })?;
            values.insert(name.clone(), value);
        }
        Ok(Self { values })
    }

    fn get(&self, name: &str, location: &str) -> Result<&str, VariableError> {
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| VariableError::UndeclaredVariable {
                location: location.to_owned(),
                name: name.to_owned(),
            })
    }

    /// Renders a template found at `location` (used in messages only).
    ///
    /// # Errors
    /// [`VariableError::UnclosedTemplate`], [`VariableError::UndeclaredVariable`].
    pub fn render(&self, template: &str, location: &str) -> Result<String, VariableError> {
        Template::parse(template, location)?.render(self, location)
    }

    /// One component's variables (`[component.<id>.variables]`), rendered.
    ///
    /// # Errors
    /// A bad variable name, or a template that is unclosed or names an undeclared variable.
    pub fn component_variables(
        &self,
        id: &str,
        component: &ComponentDecl,
    ) -> Result<ComponentVariables, VariableError> {
        let mut values = BTreeMap::new();
        for (name, template) in &component.variables {
            validate_name(name)?;
            let location = format!("[component.{id}.variables] {name}");
            values.insert(name.clone(), self.render(template, &location)?);
        }
        Ok(ComponentVariables { values })
    }
}

/// One component's variables by name, rendered once at start-up: the Spin flavour reads them
/// through `fermyon:spin/variables`, the WASI flavour as environment variables. `Debug`
/// shows names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    /// The value of the variable `name`, if the component binds one.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The names, for start-up output.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The environment a WASI-flavour component runs with: its `environment` entries and
    /// these variables under upper-case names, which is where the WASI adapter reads config.
    ///
    /// # Errors
    /// [`VariableError::EnvironmentClash`] when an `environment` entry has a variable's
    /// upper-case name.
    pub fn wasi_environment(
        &self,
        id: &str,
        environment: &BTreeMap<String, String>,
    ) -> Result<ComponentEnvironment, VariableError> {
        let mut entries = environment.clone();
        for (name, value) in &self.values {
            let env_name = name.to_ascii_uppercase();
            if entries.insert(env_name.clone(), value.clone()).is_some() {
                return Err(VariableError::EnvironmentClash {
                    component: id.to_owned(),
                    name: env_name,
                });
            }
        }
        Ok(ComponentEnvironment { entries })
    }
}

impl fmt::Debug for ComponentVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// The environment variables one component sees. `Debug` shows names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ComponentEnvironment {
    entries: BTreeMap<String, String>,
}

impl ComponentEnvironment {
    /// Only the component's `environment` entries: what a Spin-flavour component sees, as
    /// under Spin, which hands variables to a component only through its variables interface.
    #[must_use]
    pub fn plain(environment: &BTreeMap<String, String>) -> Self {
        Self {
            entries: environment.clone(),
        }
    }

    /// `(name, value)` pairs for the WASI context.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The names, for start-up output.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

impl fmt::Debug for ComponentEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.entries.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::manifest;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[variables]
supabase_url = { required = true }
service_key = { required = true, secret = true }
channel = { default = "" }
api_url = { default = "https://api.github.com" }

[component.a]
source = "a.wasm"
environment = { RUST_LOG = "info" }
[component.a.variables]
supabase_url = "{{ supabase_url }}"
supabase_rest_url = "{{supabase_url}}/rest/v1"
key = "{{ service_key }}"
api = "{{ api_url }}"
literal = "plain text"
both = "{{ api_url }}|{{ channel }}|"
"#;

    fn manifest() -> Manifest {
        manifest::parse(MANIFEST).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> ValueSources {
        ValueSources::from_environment(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    /// Component `a`'s WASI environment.
    fn wasi_environment(
        values: &AppValues,
        manifest: &Manifest,
    ) -> Result<ComponentEnvironment, VariableError> {
        let component = &manifest.components["a"];
        values
            .component_variables("a", component)?
            .wasi_environment("a", &component.environment)
    }

    fn resolved_env(sources: &ValueSources) -> BTreeMap<String, String> {
        let manifest = manifest();
        let values = AppValues::resolve(&manifest, sources).unwrap();
        wasi_environment(&values, &manifest)
            .unwrap()
            .pairs()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn component_variables_become_upper_case_environment() {
        let env = resolved_env(&env(&[
            ("SPIN_VARIABLE_SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SPIN_VARIABLE_SERVICE_KEY", "k"),
        ]));
        assert_eq!(env["SUPABASE_URL"], "http://127.0.0.1:54321");
        assert_eq!(env["SUPABASE_REST_URL"], "http://127.0.0.1:54321/rest/v1");
        assert_eq!(env["KEY"], "k");
        assert_eq!(env["API"], "https://api.github.com", "default applies");
        assert_eq!(env["LITERAL"], "plain text");
        assert_eq!(env["BOTH"], "https://api.github.com||");
        assert_eq!(env["RUST_LOG"], "info", "environment entries pass through");
        assert_eq!(env.len(), 7);
    }

    #[test]
    fn environment_overrides_a_default() {
        let env = resolved_env(&env(&[
            ("SPIN_VARIABLE_SUPABASE_URL", "u"),
            ("SPIN_VARIABLE_SERVICE_KEY", "k"),
            ("SPIN_VARIABLE_API_URL", "http://127.0.0.1:9"),
        ]));
        assert_eq!(env["API"], "http://127.0.0.1:9");
    }

    #[test]
    fn an_empty_value_counts_as_set() {
        let env = resolved_env(&env(&[
            ("SPIN_VARIABLE_SUPABASE_URL", ""),
            ("SPIN_VARIABLE_SERVICE_KEY", "k"),
        ]));
        assert_eq!(env["SUPABASE_URL"], "");
    }

    #[test]
    fn unprefixed_environment_is_ignored() {
        let err = AppValues::resolve(
            &manifest(),
            &env(&[("SUPABASE_URL", "u"), ("SPIN_VARIABLE_SERVICE_KEY", "k")]),
        )
        .unwrap_err();
        assert_eq!(
            err,
            VariableError::Missing {
                name: "supabase_url".into()
            }
        );
    }

    #[test]
    fn env_files_fill_in_and_the_environment_wins() {
        let mut sources = env(&[("SPIN_VARIABLE_SUPABASE_URL", "from-env")]);
        sources.add_env_file([
            (
                "SPIN_VARIABLE_SUPABASE_URL".to_owned(),
                "from-file".to_owned(),
            ),
            (
                "SPIN_VARIABLE_SERVICE_KEY".to_owned(),
                "file-key".to_owned(),
            ),
        ]);
        let env = resolved_env(&sources);
        assert_eq!(env["SUPABASE_URL"], "from-env");
        assert_eq!(env["KEY"], "file-key");
    }

    #[test]
    fn a_later_env_file_wins_over_an_earlier_one() {
        let mut sources = env(&[("SPIN_VARIABLE_SUPABASE_URL", "u")]);
        sources.add_env_file([("SPIN_VARIABLE_SERVICE_KEY".to_owned(), "first".to_owned())]);
        sources.add_env_file([("SPIN_VARIABLE_SERVICE_KEY".to_owned(), "second".to_owned())]);
        assert_eq!(resolved_env(&sources)["KEY"], "second");
    }

    #[test]
    fn a_required_variable_without_value_names_itself_and_its_env_key() {
        let err = AppValues::resolve(&manifest(), &env(&[("SPIN_VARIABLE_SUPABASE_URL", "u")]))
            .unwrap_err();
        assert_eq!(
            err,
            VariableError::Missing {
                name: "service_key".into()
            }
        );
        let message = err.to_string();
        assert!(message.contains("`service_key`"), "{message}");
        assert!(message.contains("SPIN_VARIABLE_SERVICE_KEY"), "{message}");
    }

    #[test]
    fn an_undeclared_template_variable_is_named() {
        let manifest = manifest::parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\nvariables = { x = \"{{ nope }}\" }\n",
        )
        .unwrap();
        let values = AppValues::resolve(&manifest, &ValueSources::default()).unwrap();
        let err = values
            .component_variables("a", &manifest.components["a"])
            .unwrap_err();
        assert_eq!(
            err,
            VariableError::UndeclaredVariable {
                location: "[component.a.variables] x".into(),
                name: "nope".into()
            }
        );
    }

    #[test]
    fn an_unclosed_template_is_refused() {
        let values = AppValues {
            values: BTreeMap::from([("a".to_owned(), "1".to_owned())]),
        };
        assert_eq!(
            values.render("{{ a }} {{ b", "here"),
            Err(VariableError::UnclosedTemplate {
                location: "here".into()
            })
        );
    }

    #[test]
    fn a_lone_closing_brace_pair_is_literal() {
        let values = AppValues {
            values: BTreeMap::new(),
        };
        assert_eq!(values.render("a }} b", "here").unwrap(), "a }} b");
    }

    #[test]
    fn variable_and_environment_clash_is_refused() {
        let manifest = manifest::parse(
            "spin_manifest_version = 2\n[component.a]\nsource = \"a.wasm\"\nvariables = { x = \"1\" }\nenvironment = { X = \"2\" }\n",
        )
        .unwrap();
        let values = AppValues::resolve(&manifest, &ValueSources::default()).unwrap();
        let err = wasi_environment(&values, &manifest).unwrap_err();
        assert_eq!(
            err,
            VariableError::EnvironmentClash {
                component: "a".into(),
                name: "X".into()
            }
        );
    }

    #[test]
    fn names_follow_spins_rules() {
        for good in ["a", "abc", "a1b2", "a_1", "supabase_service_role_key"] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_name(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn debug_output_never_shows_values() {
        let sources = env(&[("SPIN_VARIABLE_SERVICE_KEY", "hunter2")]);
        assert!(!format!("{sources:?}").contains("hunter2"));
        let mut sources = env(&[("SPIN_VARIABLE_SUPABASE_URL", "u")]);
        sources.add_env_file([("SPIN_VARIABLE_SERVICE_KEY".to_owned(), "hunter2".to_owned())]);
        let manifest = manifest();
        let values = AppValues::resolve(&manifest, &sources).unwrap();
        assert!(!format!("{values:?}").contains("hunter2"));
        let component = wasi_environment(&values, &manifest).unwrap();
        assert!(!format!("{component:?}").contains("hunter2"));
        assert!(format!("{component:?}").contains("KEY"));
        let variables = values
            .component_variables("a", &manifest.components["a"])
            .unwrap();
        assert!(!format!("{variables:?}").contains("hunter2"));
        assert!(format!("{variables:?}").contains("key"));
    }

    #[test]
    fn component_variables_keep_their_names_and_rendered_values() {
        let manifest = manifest();
        let values = AppValues::resolve(
            &manifest,
            &env(&[
                ("SPIN_VARIABLE_SUPABASE_URL", "http://db"),
                ("SPIN_VARIABLE_SERVICE_KEY", "k"),
            ]),
        )
        .unwrap();
        let variables = values
            .component_variables("a", &manifest.components["a"])
            .unwrap();
        assert_eq!(
            variables.get("supabase_rest_url"),
            Some("http://db/rest/v1")
        );
        assert_eq!(variables.get("api"), Some("https://api.github.com"));
        assert_eq!(
            variables.get("api_url"),
            None,
            "only the component's own bindings"
        );
        assert_eq!(
            variables.get("SUPABASE_URL"),
            None,
            "names are not upper-cased"
        );
        assert_eq!(
            variables.names().collect::<Vec<_>>(),
            vec![
                "api",
                "both",
                "key",
                "literal",
                "supabase_rest_url",
                "supabase_url"
            ]
        );
    }

    #[test]
    fn a_plain_environment_has_only_the_environment_entries() {
        let manifest = manifest();
        let environment = ComponentEnvironment::plain(&manifest.components["a"].environment);
        assert_eq!(
            environment.pairs().collect::<Vec<_>>(),
            vec![("RUST_LOG", "info")]
        );
    }
}
