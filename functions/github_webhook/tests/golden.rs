#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Golden fixtures: every real GitHub payload in tests/fixtures/github/ (octokit/webhooks,
//! MIT) normalized and compared field by field with the row stored beside it
//! (`<name>.expected.json`). `PULSER_BLESS=1` rewrites the expected files; review the diff.

use std::path::{Path, PathBuf};

use github_webhook::event::{Kind, Malformed, normalize, ping_zen};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github")
        .join(name)
}

fn event_of(name: &str) -> &str {
    name.split('.').next().unwrap()
}

fn check(name: &str) {
    let body = std::fs::read(fixture(&format!("{name}.json"))).unwrap();
    let event = event_of(name);
    let actual = match Kind::of(event) {
        Some(kind) => normalize(kind, &body, &format!("golden-{name}")).unwrap(),
        None => {
            assert_eq!(event, "ping");
            serde_json::json!({"pong": true, "zen": ping_zen(&body).unwrap()})
        }
    };
    let expected_path = fixture(&format!("{name}.expected.json"));
    if std::env::var_os("PULSER_BLESS").is_some() {
        std::fs::write(
            &expected_path,
            serde_json::to_string_pretty(&actual).unwrap() + "\n",
        )
        .unwrap();
    }
    let expected: Value = serde_json::from_slice(
        &std::fs::read(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
    )
    .unwrap();
    let (Value::Object(actual), Value::Object(expected)) = (&actual, &expected) else {
        panic!("{name}: rows are objects");
    };
    for (field, want) in expected {
        assert_eq!(
            actual.get(field),
            Some(want),
            "{name}: field `{field}` differs"
        );
    }
    for field in actual.keys() {
        assert!(
            expected.contains_key(field),
            "{name}: unexpected field `{field}`"
        );
    }
}

macro_rules! golden {
    ($($test:ident => $name:literal,)*) => {
        $(#[test] fn $test() { check($name); })*
        #[test]
        fn every_fixture_has_a_golden_test() {
            let named = [$($name),*];
            for entry in std::fs::read_dir(fixture("")).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                if let Some(stem) = file.strip_suffix(".json").filter(|s| !s.ends_with(".expected")) {
                    assert!(named.contains(&stem), "no golden test for {file}");
                }
            }
        }
    };
}

golden! {
    ping => "ping",
    ping_with_app_id => "ping.with-app_id",
    push => "push",
    push_with_new_branch => "push.with-new-branch",
    pull_request_opened => "pull_request.opened",
    pull_request_closed_unmerged => "pull_request.closed.unmerged",
    workflow_run_requested => "workflow_run.requested",
    workflow_run_completed_success => "workflow_run.completed.success",
    workflow_run_completed_success_with_pull_requests => "workflow_run.completed.success.with-pull-requests",
    check_run_created => "check_run.created",
    check_run_completed_success => "check_run.completed.success",
    check_run_completed_failure => "check_run.completed.failure",
}

/// Derived case: no upstream example of a merged PR exists, so the closed one is edited.
#[test]
fn pull_request_closed_merged_is_a_success() {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(fixture("pull_request.closed.unmerged.json")).unwrap(),
    )
    .unwrap();
    body["pull_request"]["merged"] = true.into();
    body["pull_request"]["title"] = "DEV-CICDL-0031 ship it".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::PullRequest, &bytes, "d-merged").unwrap();
    assert_eq!(row["status"], "success");
    assert_eq!(row["title"], "CICDL-PR-MERGED");
    assert_eq!(row["vtid"], "DEV-CICDL-0031");
    assert_eq!(row["layer"], "CICDL");
    assert_eq!(row["meta"]["merged"], true);
}

/// Derived case: no upstream example of a failed workflow run exists.
#[test]
fn workflow_run_completed_failure_is_a_failure() {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(fixture("workflow_run.completed.success.json")).unwrap(),
    )
    .unwrap();
    body["workflow_run"]["conclusion"] = "failure".into();
    body["workflow_run"]["head_branch"] = "feature/OPS-GW2-0007-retry".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::WorkflowRun, &bytes, "d-failed").unwrap();
    assert_eq!(row["status"], "failure");
    assert_eq!(row["title"], "GW2-WORKFLOW-COMPLETED");
    assert_eq!(row["vtid"], "OPS-GW2-0007");
    assert_eq!(row["ref"], "feature/OPS-GW2-0007-retry");
}

#[test]
fn push_vtid_comes_from_commits_in_order() {
    let body = br#"{"ref":"refs/heads/main","after":"abc","compare":"https://x/compare",
        "head_commit":{"message":"no id"},
        "commits":[{"message":"first none"},{"message":"DEV-A1-0001 second"},{"message":"DEV-B2-0002"}]}"#;
    let row = normalize(Kind::Push, body, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-A1-0001");
    assert_eq!(row["ref"], "main");
    assert_eq!(row["title"], "A1-PUSH-PUSHED");
}

#[test]
fn push_with_an_empty_commit_list_is_unset() {
    let body = br#"{"ref":"refs/heads/main","after":"abc","compare":"https://x/c","head_commit":null,"commits":[]}"#;
    let row = normalize(Kind::Push, body, "d").unwrap();
    assert_eq!(row["vtid"], "UNSET");
    assert_eq!(row["layer"], "UNSET");
    assert_eq!(row["title"], "UNSET-PUSH-PUSHED");
}

#[test]
fn pr_title_wins_over_branch() {
    let body = br#"{"action":"opened","number":5,"pull_request":{"title":"DEV-TITLE-0001 x","html_url":"u","merged":false,"head":{"ref":"DEV-BRANCH-0002","sha":"s"}}}"#;
    let row = normalize(Kind::PullRequest, body, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-TITLE-0001");
    assert_eq!(row["status"], "in_progress");
    assert_eq!(row["title"], "TITLE-PR-OPENED");
}

#[test]
fn a_body_without_its_object_is_malformed() {
    assert!(normalize(Kind::WorkflowRun, br#"{"action":"completed"}"#, "d").is_err());
    assert!(normalize(Kind::Push, b"[]", "d").is_err());
    assert!(normalize(Kind::CheckRun, b"not json", "d").is_err());
}

/// A run triggered by a pull request carries the PR's title as `display_title`: the PR title
/// comes first in the VTID search order, before the branch.
#[test]
fn workflow_run_for_a_pull_request_takes_the_vtid_from_the_pr_title() {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(fixture("workflow_run.completed.success.json")).unwrap(),
    )
    .unwrap();
    body["workflow_run"]["event"] = "pull_request".into();
    body["workflow_run"]["display_title"] = "DEV-TITLE-0001 from the PR".into();
    body["workflow_run"]["head_branch"] = "DEV-BRANCH-0002".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::WorkflowRun, &bytes, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-TITLE-0001");
    assert_eq!(row["title"], "TITLE-WORKFLOW-COMPLETED");
}

/// For a run triggered by anything else `display_title` is a commit message or a run name:
/// the branch comes first.
#[test]
fn workflow_run_for_a_push_searches_the_branch_before_the_commit_message() {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read(fixture("workflow_run.completed.success.json")).unwrap(),
    )
    .unwrap();
    body["workflow_run"]["event"] = "push".into();
    body["workflow_run"]["display_title"] = "DEV-TITLE-0001 commit".into();
    body["workflow_run"]["head_commit"]["message"] = "DEV-TITLE-0001 commit".into();
    body["workflow_run"]["head_branch"] = "DEV-BRANCH-0002".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::WorkflowRun, &bytes, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-BRANCH-0002");
}

#[test]
fn a_workflow_run_without_a_vtid_in_its_branch_takes_the_head_commits() {
    let mut body: Value =
        serde_json::from_slice(&std::fs::read(fixture("workflow_run.requested.json")).unwrap())
            .unwrap();
    body["workflow_run"]["head_commit"]["message"] = "fix: retry (OPS-EDGE-0042)".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::WorkflowRun, &bytes, "d").unwrap();
    assert_eq!(row["vtid"], "OPS-EDGE-0042");
    assert_eq!(row["layer"], "EDGE");
    assert_eq!(row["status"], "queued");
    assert_eq!(row["title"], "EDGE-WORKFLOW-REQUESTED");
}

#[test]
fn a_check_run_takes_the_vtid_from_its_suites_branch() {
    let mut body: Value =
        serde_json::from_slice(&std::fs::read(fixture("check_run.created.json")).unwrap()).unwrap();
    body["check_run"]["check_suite"]["head_branch"] = "DEV-CICDL-0031/lint".into();
    let bytes = serde_json::to_vec(&body).unwrap();
    let row = normalize(Kind::CheckRun, &bytes, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-CICDL-0031");
    assert_eq!(row["ref"], "DEV-CICDL-0031/lint");
    assert_eq!(row["title"], "CICDL-CHECK-CREATED");
}

#[test]
fn push_head_commit_is_searched_before_the_commit_list() {
    let body = br#"{"ref":"refs/heads/main","after":"abc","compare":"c",
        "head_commit":{"message":"DEV-HEAD-0002"},
        "commits":[{"message":"DEV-LIST-0001"},{"message":"DEV-HEAD-0002"}]}"#;
    let row = normalize(Kind::Push, body, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-HEAD-0002");
    assert_eq!(row["meta"]["commits"], 2);
}

#[test]
fn push_branch_is_searched_first_with_refs_heads_stripped() {
    let body = br#"{"ref":"refs/heads/DEV-BRANCH-0003-x","after":"abc","compare":"c",
        "head_commit":{"message":"DEV-HEAD-0002"},"commits":[{"message":"DEV-HEAD-0002"}]}"#;
    let row = normalize(Kind::Push, body, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-BRANCH-0003");
    assert_eq!(row["ref"], "DEV-BRANCH-0003-x");
}

#[test]
fn escaped_strings_are_read_too() {
    // JSON escapes make serde allocate instead of borrowing; the result must be the same.
    let body = br#"{"ref":"refs/heads/main","after":"abc","compare":"c",
        "head_commit":{"message":"caf\u00e9 \"DEV-ESC-0004\"\nbody"},"commits":[]}"#;
    let row = normalize(Kind::Push, body, "d").unwrap();
    assert_eq!(row["vtid"], "DEV-ESC-0004");
}

#[test]
fn a_push_without_ref_names_the_field() {
    let error = normalize(Kind::Push, br#"{"after":"abc"}"#, "d").unwrap_err();
    assert_eq!(error, Malformed::MissingField("ref"));
    assert!(error.to_string().contains("`ref`"), "{error}");
}

#[test]
fn a_pull_request_event_without_its_object_names_the_field() {
    let error = normalize(Kind::PullRequest, br#"{"action":"opened"}"#, "d").unwrap_err();
    assert_eq!(error, Malformed::MissingField("pull_request"));
}

#[test]
fn a_check_run_event_without_its_object_names_the_field() {
    let error = normalize(Kind::CheckRun, br#"{"action":"created"}"#, "d").unwrap_err();
    assert_eq!(error, Malformed::MissingField("check_run"));
}

#[test]
fn a_field_of_the_wrong_type_is_malformed() {
    let error = normalize(Kind::Push, br#"{"ref":7}"#, "d").unwrap_err();
    assert!(matches!(error, Malformed::Json(_)), "{error:?}");
}

/// The example row in the README's "### github_webhook" section is this golden row (with the
/// delivery id elided as `...`).
#[test]
fn readme_example_row_is_the_golden_row() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("### github_webhook")
        .nth(1)
        .expect("README has a ### github_webhook section");
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a ```json example");
    let mut example: Value = serde_json::from_str(example).unwrap();
    assert_eq!(example["delivery_id"], "...");
    let mut golden: Value = serde_json::from_slice(
        &std::fs::read(fixture("workflow_run.completed.success.expected.json")).unwrap(),
    )
    .unwrap();
    for row in [&mut example, &mut golden] {
        row["delivery_id"] = Value::Null;
        row["meta"]["delivery_id"] = Value::Null;
    }
    assert_eq!(example, golden);
}
