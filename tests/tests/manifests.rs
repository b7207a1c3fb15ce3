#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! spin.toml and wrangler.toml say what each function's settings table says: every setting
//! is bound for its component (Spin) and its environment (Workers), defaults are equal,
//! secrets are secrets, and the edge host's body limit is the function's own. wrangler.toml
//! also deploys every Worker with the compatibility the workerd tests run, builds each
//! environment's own function, and sets a Cron Trigger where a function has a scheduled entry.

use std::path::Path;

use pulser_runtime::pipeline::Spec;
use pulser_runtime::settings::{Need, Setting};
use pulser_tests::workerd::Compatibility;
use toml::{Table, Value};

/// One function: its crate name (the Workers environment), Spin component and table.
struct Function {
    name: &'static str,
    component: &'static str,
    spec: Spec,
    table: &'static [Setting],
}

const FUNCTIONS: [Function; 5] = [
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
    Function {
        name: "oasis_events",
        component: "oasis-events",
        spec: oasis_events::SPEC,
        table: oasis_events::settings::TABLE,
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

/// The workerd tests run every Worker with the compatibility date and flags they read from
/// wrangler.toml's top level (`Compatibility`), and no
/// environment may deploy with other values than the tested ones.
#[test]
fn every_worker_deploys_with_the_compatibility_the_workerd_tests_run() {
    let (text, wrangler) = read("wrangler.toml");
    let date = wrangler
        .get("compatibility_date")
        .and_then(Value::as_str)
        .expect("wrangler.toml sets compatibility_date")
        .to_owned();
    let flags = wrangler
        .get("compatibility_flags")
        .and_then(Value::as_array)
        .map(|flags| {
            flags
                .iter()
                .map(|f| f.as_str().expect("a flag is a string").to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        Compatibility::parse(&text),
        Ok(Compatibility { date, flags }),
        "tests/src/workerd.rs reads wrangler.toml's compatibility otherwise than TOML does"
    );
    for f in &FUNCTIONS {
        for key in ["compatibility_date", "compatibility_flags"] {
            assert!(
                get(&wrangler, &["env", f.name, key]).is_none(),
                "[env.{}] sets {key}: the workerd tests would not run what it deploys",
                f.name
            );
        }
    }
}

/// `wrangler deploy --env <function>` builds that function's Worker and only that one,
/// unless `cargo xtask test` has just built them all (PULSER_WORKERS_PREBUILT).
#[test]
fn each_environment_builds_its_own_worker() {
    let (_, wrangler) = read("wrangler.toml");
    assert!(
        wrangler.get("build").is_none(),
        "a top-level [build] would be every environment's"
    );
    for f in &FUNCTIONS {
        let command = get(&wrangler, &["env", f.name, "build", "command"])
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("[env.{}.build] has no command", f.name));
        assert_eq!(
            command,
            format!(
                "[ -n \"$PULSER_WORKERS_PREBUILT\" ] || cargo xtask build workers {}",
                f.name
            ),
            "[env.{}.build]",
            f.name
        );
        assert_eq!(
            get(&wrangler, &["env", f.name, "main"]).and_then(Value::as_str),
            Some(format!("dist/workers/{}/index.js", f.name).as_str()),
            "[env.{}] main",
            f.name
        );
    }
}

/// Only push_to_odoo has a scheduled entry (`drain_on_schedule`): a Cron Trigger on any other
/// Worker would fire a handler it does not export.
#[test]
fn only_push_to_odoo_has_a_cron_trigger() {
    let (_, wrangler) = read("wrangler.toml");
    assert!(wrangler.get("triggers").is_none(), "a top-level [triggers]");
    for f in &FUNCTIONS {
        let crons = get(&wrangler, &["env", f.name, "triggers", "crons"]).and_then(Value::as_array);
        if f.name != "push_to_odoo" {
            assert!(crons.is_none(), "[env.{}.triggers] sets crons", f.name);
            continue;
        }
        let crons = crons.expect("[env.push_to_odoo.triggers] crons");
        assert_eq!(crons.len(), 1, "one schedule: {crons:?}");
        let cron = crons.first().and_then(Value::as_str).unwrap_or_default();
        let fields = cron.split_whitespace().count();
        assert_eq!(fields, 5, "a five-field cron expression: {crons:?}");
    }
}

/// oasis_events on Workers counts through the rate-limit binding the function names, and on
/// Spin in the key-value store it opens; the feed's longest wait fits the edge host's deadline.
#[test]
fn the_read_sides_limiter_and_wait_are_where_the_function_looks() {
    let (_, wrangler) = read("wrangler.toml");
    let limits = get(&wrangler, &["env", "oasis_events", "ratelimits"])
        .and_then(Value::as_array)
        .expect("[[env.oasis_events.ratelimits]]");
    assert!(
        limits
            .iter()
            .any(|l| l.get("name").and_then(Value::as_str) == Some(oasis_events::limit::BINDING)),
        "no ratelimits binding named {}",
        oasis_events::limit::BINDING
    );
    let (_, spin) = read("spin.toml");
    let stores = get(&spin, &["component", "oasis-events", "key_value_stores"])
        .and_then(Value::as_array)
        .expect("oasis-events opens a key-value store");
    assert_eq!(stores.first().and_then(Value::as_str), Some("default"));
    let deadline_ms = get(
        &spin,
        &["component", "oasis-events", "tool", "edge", "timeout_ms"],
    )
    .and_then(Value::as_integer)
    .unwrap_or(30_000);
    assert!(i64::try_from(oasis_events::settings::MAX_FEED_WAIT_MS).unwrap() + 5_000 < deadline_ms);
}
