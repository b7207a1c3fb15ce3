//! The representative inputs, generated the same way on every target (nothing is read from
//! disk at run time: the fixture and the key are compiled in).

use core::fmt::Write as _;

/// octokit/webhooks' push example (MIT, see `data/github/LICENSE.octokit-webhooks.txt`), as
/// `functions/github_webhook/tests/fixtures/` holds it; it pushes no commits.
const PUSH_FIXTURE: &str = include_str!("../data/github/push.json");

/// The bench-only GitHub App key (2048-bit RSA, PKCS#1 PEM as GitHub hands them out; see
/// `data/README.md`).
pub(crate) const APP_KEY_PEM: &str = include_str!("../data/bench-only-github-app-key.pem");

/// The one commit message of a padded push that names a VTID (the last commit, which is also
/// the head commit), so the row's VTID says the whole push was read.
pub(crate) const PUSH_VTID: &str = "DEV-CICDL-0031";

/// One commit of a push delivery, in GitHub's shape.
fn commit(index: usize, message: &str) -> String {
    let id = format!("{index:040x}");
    let tree = format!("{:040x}", index.wrapping_mul(7919).wrapping_add(1));
    let message = serde_json::Value::from(message).to_string();
    format!(
        concat!(
            r#"{{"id":"{id}","tree_id":"{tree}","distinct":true,"message":{message},"#,
            r#""timestamp":"2026-11-18T11:06:40+01:00","#,
            r#""url":"https://github.com/Codertocat/Hello-World/commit/{id}","#,
            r#""author":{{"name":"Codertocat","email":"21031067+Codertocat@users.noreply.github.com","username":"Codertocat"}},"#,
            r#""committer":{{"name":"GitHub","email":"noreply@github.com","username":"web-flow"}},"#,
            r#""added":[],"removed":[],"modified":["src/module_{index}.rs","README.md"]}}"#
        ),
        id = id,
        tree = tree,
        message = message,
        index = index
    )
}

/// A push delivery of at least `min_bytes`: [`PUSH_FIXTURE`] with its empty `commits` filled
/// with generated commits (messages without a VTID but the last, which is the head commit
/// too, naming [`PUSH_VTID`]), the rest of the fixture byte for byte.
pub(crate) fn push_delivery(min_bytes: usize) -> Result<Vec<u8>, String> {
    const COMMITS: &str = r#""commits": [],"#;
    const HEAD: &str = r#""head_commit": null,"#;
    if PUSH_FIXTURE.matches(COMMITS).count() != 1 || PUSH_FIXTURE.matches(HEAD).count() != 1 {
        return Err("push.json no longer has one empty commits list and a null head_commit".into());
    }
    let plain = |i: usize| {
        format!(
            "Refactor module {i}: split the parser from the planner\n\nThe planner now takes \
             the clock as an argument, so its tests need no fake time."
        )
    };
    let last = |i: usize| commit(i, &format!("{PUSH_VTID}: ship the edge (commit {i})"));
    let fixed = PUSH_FIXTURE.len() - COMMITS.len() - HEAD.len();
    let mut commits = String::new();
    let mut count = 0;
    // The last commit appears twice (in `commits` and as `head_commit`).
    while fixed + commits.len() + 2 * last(count).len() + 30 < min_bytes {
        commits.push_str(&commit(count, &plain(count)));
        commits.push(',');
        count += 1;
    }
    let head = last(count);
    commits.push_str(&head);
    let body = PUSH_FIXTURE
        .replace(COMMITS, &format!(r#""commits": [{commits}],"#))
        .replace(HEAD, &format!(r#""head_commit": {head},"#));
    Ok(body.into_bytes())
}

/// One Odoo `invoice.posted` event of about `min_bytes`, keyed `event_id` (invoice lines are
/// added until it is that long).
pub(crate) fn odoo_event(event_id: &str, min_bytes: usize) -> String {
    let mut lines = String::new();
    let mut count = 0;
    let event = |lines: &str| {
        format!(
            concat!(
                r#"{{"event_type":"invoice.posted","resource_id":42,"event_id":"{id}","#,
                r#""occurred_at":"2026-11-18T11:06:40Z","payload":{{"move_id":42,"#,
                r#""name":"INV/2026/00042","partner":{{"id":7,"name":"Azure Interior","vat":"BE0477472701"}},"#,
                r#""currency":"EUR","amount_untaxed":1250.5,"amount_tax":262.61,"amount_total":1513.11,"#,
                r#""invoice_date":"2026-11-18","lines":[{lines}]}}}}"#
            ),
            id = event_id,
            lines = lines
        )
    };
    while event(&lines).len() < min_bytes {
        if count > 0 {
            lines.push(',');
        }
        let _ = write!(
            lines,
            r#"{{"product":"Office chair, model {count}","quantity":{},"price_unit":125.05,"tax":"21%"}}"#,
            count + 1
        );
        count += 1;
    }
    event(&lines)
}

/// A batch of `count` events like [`odoo_event`], keyed `bench-<index>`.
pub(crate) fn odoo_batch(count: usize, event_bytes: usize) -> String {
    let events: Vec<String> = (0..count)
        .map(|i| odoo_event(&format!("bench-{i}"), event_bytes))
        .collect();
    format!("[{}]", events.join(","))
}

/// PostgREST's answer to storing the events `bench-0`..: every one new, with ids from 1.
pub(crate) fn odoo_stored(count: usize) -> String {
    let rows: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"id":{},"event_id":"bench-{i}"}}"#, i + 1))
        .collect();
    format!("[{}]", rows.join(","))
}

/// A git-ops request signed at `now`: push `gitops/bench` with a commit message.
pub(crate) fn git_ops_request(request_id: &str, now: u64) -> String {
    format!(
        r#"{{"branch":"gitops/bench","message":"Bench: set the retry budget of the pulse hub\n\nRequested from Odoo.","kv_key":"retry_budget","kv_value":"3","request_id":"{request_id}","timestamp":{now}}}"#
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_padded_push_is_json_of_the_size_asked_with_the_vtid_last() {
        for size in [20 * 1024, 200 * 1024] {
            let body = push_delivery(size).unwrap();
            assert!(
                body.len() >= size && body.len() < size + 2048,
                "{}",
                body.len()
            );
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let commits = value["commits"].as_array().unwrap();
            assert!(commits.len() > 10);
            let last = commits.last().unwrap();
            assert_eq!(&value["head_commit"], last);
            assert!(last["message"].as_str().unwrap().starts_with(PUSH_VTID));
            assert_eq!(value["ref"], "refs/tags/simple-tag");
        }
    }

    #[test]
    fn an_odoo_event_is_json_of_about_the_size_asked() {
        let event = odoo_event("bench-0", 1024);
        assert!(event.len() >= 1024 && event.len() < 1200, "{}", event.len());
        let value: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!(value["event_id"], "bench-0");
        let batch: serde_json::Value = serde_json::from_str(&odoo_batch(3, 1024)).unwrap();
        assert_eq!(batch[2]["event_id"], "bench-2");
    }
}
