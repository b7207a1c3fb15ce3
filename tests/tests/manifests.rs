#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! spin.toml and wrangler.toml say what each function's settings table says: every setting
//! is bound for its component (Spin) and its environment (Workers), defaults are equal,
//! secrets are secrets, and the edge host's body limit is the function's own.

use std::path::Path;

use pulser_runtime::pipeline::Spec;
use pulser_runtime::settings::{Need, Setting};
use toml::{Table, Value};

/// One function: its crate name (the Workers environment), Spin component and table.
struct Function {
    name: &'static str,
    component: &'static str,
    spec: Spec,
    table: &'static [Setting],
}

const FUNCTIONS: [Function; 4] = [
    Function {
        name: "odoo_event_ingest",
        component: "odoo-event-ingest",
        spec: odoo_event_ingest::SPEC,
        table: odoo_event_ingest::settings::TABLE,
    },
    Function {
        name: "push_to_odoo",
        component: "push-to-odoo",
        spec: push_to_odoo::SPEC,
        table: push_to_odoo::settings::TABLE,
    },
    Function {
        name: "github_webhook",
        component: "github-webhook",
        spec: github_webhook::SPEC,
        table: github_webhook::settings::TABLE,
    },
    Function {
        name: "git_ops_dispatch",
        component: "git-ops-dispatch",
        spec: git_ops_dispatch::SPEC,
        table: git_ops_dispatch::settings::TABLE,
    },
];

/// The edge host's body limit where a component sets none (`edge --max-body-bytes`).
const EDGE_DEFAULT_MAX_BODY: i64 = 1024 * 1024;

fn read(name: &str) -> (String, Table) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let table = text.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
    (text, table)
}

fn get<'t>(table: &'t Table, path: &[&str]) -> Option<&'t Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(table.get(*first)?, |value, key| value.get(key))
}

#[test]
fn every_setting_is_bound_in_spin_toml_with_the_same_default_and_secrecy() {
    let (_, spin) = read("spin.toml");
    for f in &FUNCTIONS {
        let bound = get(&spin, &["component", f.component, "variables"])
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("spin.toml binds no variables for {}", f.component));
        for setting in f.table {
            let lower = setting.name.to_ascii_lowercase();
            assert_eq!(
                bound.get(&lower).and_then(Value::as_str),
                Some(format!("{{{{ {lower} }}}}").as_str()),
                "{}: {lower} is not bound to the application variable",
                f.component
            );
            let declared = get(&spin, &["variables", &lower])
                .and_then(Value::as_table)
                .unwrap_or_else(|| panic!("spin.toml declares no variable {lower}"));
            let required = declared.get("required").and_then(Value::as_bool) == Some(true);
            let default = declared.get("default").and_then(Value::as_str);
            match setting.need {
                Need::Required => assert!(required, "{lower} must be required = true"),
                Need::Default(d) => assert_eq!(default, Some(d), "{lower}'s default"),
                // Either may carry the value, so Spin cannot require this one alone.
                Need::Unless(_) => assert!(
                    required || default == Some(""),
                    "{lower} must be required or default to empty"
                ),
            }
            let secret = declared.get("secret").and_then(Value::as_bool) == Some(true);
            assert_eq!(
                secret, setting.secret,
                "{lower}: secret = {secret} in spin.toml"
            );
        }
        assert_eq!(
            bound.len(),
            f.table.len(),
            "{} binds variables its settings table does not list",
            f.component
        );
    }
}

#[test]
fn every_setting_is_a_var_or_a_named_secret_in_wrangler_toml() {
    let (text, wrangler) = read("wrangler.toml");
    for f in &FUNCTIONS {
        let vars = get(&wrangler, &["env", f.name, "vars"])
            .and_then(Value::as_table)
            .unwrap_or_else(|| panic!("wrangler.toml has no [env.{}.vars]", f.name));
        // Secrets cannot live in the file; the comment above the environment names them for
        // `wrangler secret put`.
        let header = format!("[env.{}]", f.name);
        let before = &text[..text.find(&header).unwrap()];
        let mut lines: Vec<&str> = before
            .lines()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .collect();
        lines.reverse();
        let comment = lines.join(" ");
        let secrets = comment
            .split_once("Secrets:")
            .map(|(_, list)| list)
            .unwrap_or_else(|| panic!("{header} has no `# ... Secrets:` comment"));
        for setting in f.table {
            let named = secrets
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == setting.name);
            let var = vars.get(setting.name).and_then(Value::as_str);
            if setting.secret {
                assert!(named, "{header}: secret {} is not named", setting.name);
                assert_eq!(var, None, "{header}: secret {} set as a var", setting.name);
                continue;
            }
            assert!(!named, "{header}: {} is named a secret", setting.name);
            let expected = match setting.need {
                Need::Default(d) => d,
                Need::Required | Need::Unless(_) => "",
            };
            assert_eq!(var, Some(expected), "{header}: {}", setting.name);
        }
        for name in vars.keys() {
            assert!(
                f.table.iter().any(|s| s.name == name),
                "{header} sets {name}, which the function does not read"
            );
        }
    }
}

#[test]
fn the_edge_hosts_body_limit_is_each_functions_own() {
    let (_, spin) = read("spin.toml");
    for f in &FUNCTIONS {
        let limit = get(
            &spin,
            &["component", f.component, "tool", "edge", "max_body_bytes"],
        )
        .and_then(Value::as_integer)
        .unwrap_or(EDGE_DEFAULT_MAX_BODY);
        assert_eq!(
            usize::try_from(limit).unwrap(),
            f.spec.max_body,
            "{}: spin.toml's max_body_bytes",
            f.component
        );
    }
}

/// push_to_odoo plans each request to end within PUSH_DEADLINE_MS; the edge host must give
/// it at least that long, or the host, not the plan, decides where a delivery stops.
#[test]
fn the_edge_hosts_deadline_for_push_to_odoo_holds_its_planned_deadline() {
    let (_, spin) = read("spin.toml");
    let host_ms = get(
        &spin,
        &["component", "push-to-odoo", "tool", "edge", "timeout_ms"],
    )
    .and_then(Value::as_integer)
    .expect("spin.toml sets the edge host's timeout_ms for push-to-odoo");
    let planned_ms: i64 = match push_to_odoo::settings::PUSH_DEADLINE_MS.need {
        Need::Default(value) => value.parse().unwrap(),
        other => panic!("PUSH_DEADLINE_MS has a default, not {other:?}"),
    };
    assert!(
        host_ms > planned_ms,
        "spin.toml's timeout_ms ({host_ms}) must exceed PUSH_DEADLINE_MS ({planned_ms})"
    );
}

/// `spin build` builds every component into its `source`: each component's build command is
/// the xtask build of that function's Spin flavour, whose output is `dist/spin/<name>.wasm`.
#[test]
fn spin_build_builds_each_component_into_its_source() {
    let (_, spin) = read("spin.toml");
    for f in &FUNCTIONS {
        let component = |key: &str| get(&spin, &["component", f.component, key]);
        assert_eq!(
            component("source").and_then(Value::as_str),
            Some(format!("dist/spin/{}.wasm", f.name).as_str()),
            "{}'s source",
            f.component
        );
        assert_eq!(
            get(&spin, &["component", f.component, "build", "command"]).and_then(Value::as_str),
            Some(format!("cargo xtask build spin {}", f.name).as_str()),
            "{}'s [build] command",
            f.component
        );
        let watch = get(&spin, &["component", f.component, "build", "watch"])
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{} has no build.watch", f.component));
        assert!(
            watch
                .iter()
                .any(|w| w.as_str() == Some(&format!("functions/{}/src/**/*.rs", f.name))),
            "{}'s watch list misses its own sources",
            f.component
        );
    }
}
