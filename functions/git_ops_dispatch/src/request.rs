//! The two requests Odoo may send, validated field by field into the `repository_dispatch`
//! GitHub will receive. Both carry the caller's idempotency key (`request_id`) and when the
//! caller signed them (`timestamp`), inside the signed body so neither can be swapped.

use pulser_runtime::time::UnixTime;
use serde_json::{Map, Value};

/// Branch used when a git-ops request names none.
pub(crate) const DEFAULT_BRANCH: &str = "gitops/push";
/// GitHub's limits on a dispatch.
pub(crate) const MAX_EVENT_TYPE_CHARS: usize = 100;
/// At most this many top-level keys in `client_payload`.
pub(crate) const MAX_PAYLOAD_KEYS: usize = 10;
/// `client_payload` serialized must stay below this many bytes.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Who a git-ops request names when it names no one.
pub(crate) const DEFAULT_TRIGGERED_BY: &str = "odoo";
/// Who a deploy request names when it names no one: the Odoo wizard, as in the seed.
pub(crate) const DEFAULT_DEPLOY_TRIGGERED_BY: &str = "odoo_wizard";
/// `triggered_by` is at most this many characters.
pub(crate) const MAX_TRIGGERED_BY_CHARS: usize = 100;
/// The control characters a `message` may hold: commit messages have lines and indents.
const MESSAGE_CONTROLS: &[char] = &['\n', '\t'];

/// A field that failed validation, and why (never echoing long values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The field's name.
    pub(crate) field: &'static str,
    /// What is wrong.
    pub(crate) reason: &'static str,
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn invalid<T>(field: &'static str, reason: &'static str) -> Result<T, Invalid> {
    Err(Invalid { field, reason })
}

/// A validated dispatch: the event type and its client payload, and the request's key and
/// signing time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dispatch {
    /// `git-ops` or `deploy_pulse_hub`.
    pub(crate) event_type: &'static str,
    /// What the workflow receives as `github.event.client_payload`.
    pub(crate) client_payload: Map<String, Value>,
    /// The caller's idempotency key: every retry of one request carries the same one.
    pub(crate) request_id: String,
    /// When the caller signed the request (its `timestamp`).
    pub(crate) signed_at: UnixTime,
}

fn string<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, Invalid> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => invalid(field, "must be a string"),
    }
}

/// `request_id`: 1-128 of `[A-Za-z0-9._:-]`, like a correlation id.
fn request_id(body: &Map<String, Value>) -> Result<String, Invalid> {
    let Some(id) = string(body, "request_id")? else {
        return invalid(
            "request_id",
            "is required: send your idempotency key for this request (1-128 of [A-Za-z0-9._:-]), \
             the same on every retry of it",
        );
    };
    // The one rule for ids a caller chooses, as for correlation ids.
    if !pulser_runtime::reply::is_token(id) {
        return invalid("request_id", "must be 1-128 of [A-Za-z0-9._:-]");
    }
    Ok(id.to_owned())
}

/// `timestamp`: RFC 3339 text or unix seconds (a JSON integer).
fn signed_at(body: &Map<String, Value>) -> Result<UnixTime, Invalid> {
    const FORMS: &str = "must be when you signed the request, as RFC 3339 \
                         (2026-11-18T11:06:40Z) or unix seconds (an integer)";
    let parsed = match body.get("timestamp") {
        None | Some(Value::Null) => {
            return invalid(
                "timestamp",
                "is required: send when you signed the request, as RFC 3339 or unix seconds",
            );
        }
        Some(Value::String(text)) => UnixTime::parse_rfc3339(text),
        Some(Value::Number(secs)) => secs.as_u64().map(UnixTime::from_secs),
        Some(_) => None,
    };
    parsed.map_or_else(|| invalid("timestamp", FORMS), Ok)
}

/// Where git-ops branches must start (`GITOPS_BRANCH_PREFIX`); empty admits any branch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BranchPrefix(String);

impl BranchPrefix {
    /// The setting's value, when some branch name can start with it (`gitops/`, `odoo-`).
    ///
    /// # Errors
    /// Why no branch could start with it (the reason does not repeat the value).
    pub(crate) fn from_setting(prefix: &str) -> Result<Self, &'static str> {
        if !prefix.is_empty() && branch_problem(&format!("{prefix}x")).is_some() {
            return Err("must be the start of a valid branch name, e.g. gitops/");
        }
        Ok(Self(prefix.to_owned()))
    }

    fn admits(&self, branch: &str) -> bool {
        branch.starts_with(self.0.as_str())
    }
}

/// Validates `body` (already authenticated) into a dispatch: `request_id` and `timestamp`
/// first, then the event's own fields; a git-ops `branch` must start with `branch_prefix`.
/// `correlation_id` and `request_id` are added to the payload; a deploy's `timestamp` is
/// the signed one in unix seconds, and its `triggered_by` defaults to `odoo_wizard`.
///
/// # Errors
/// [`Invalid`] naming the first failing field.
pub(crate) fn parse(
    body: &Value,
    correlation_id: &str,
    branch_prefix: &BranchPrefix,
) -> Result<Dispatch, Invalid> {
    let Some(body) = body.as_object() else {
        return invalid("body", "must be a JSON object");
    };
    let request_id = request_id(body)?;
    let signed_at = signed_at(body)?;
    let (event_type, mut client_payload) = match string(body, "event_type")? {
        Some("deploy_pulse_hub") => ("deploy_pulse_hub", deploy(body, correlation_id, signed_at)?),
        Some("git-ops") | None => ("git-ops", git_ops(body, correlation_id, branch_prefix)?),
        Some(_) => {
            return invalid(
                "event_type",
                "must be deploy_pulse_hub (or absent for git-ops)",
            );
        }
    };
    // The workflow can tell a retry from a new request, and find the audit row of its run.
    client_payload.insert("request_id".into(), request_id.as_str().into());
    let dispatch = Dispatch {
        event_type,
        client_payload,
        request_id,
        signed_at,
    };
    check_github_limits(&dispatch)?;
    Ok(dispatch)
}

fn git_ops(
    body: &Map<String, Value>,
    correlation_id: &str,
    branch_prefix: &BranchPrefix,
) -> Result<Map<String, Value>, Invalid> {
    let branch = string(body, "branch")?.unwrap_or(DEFAULT_BRANCH);
    if let Some(reason) = branch_problem(branch) {
        return invalid("branch", reason);
    }
    if !branch_prefix.admits(branch) {
        return invalid(
            "branch",
            "must start with the configured branch prefix (GITOPS_BRANCH_PREFIX); a request \
             without branch gets gitops/push",
        );
    }
    let Some(message) = string(body, "message")? else {
        return invalid("message", "is required");
    };
    let length = message.chars().count();
    if length == 0 || length > 1000 {
        return invalid("message", "must be 1 to 1000 characters");
    }
    if has_control(message, MESSAGE_CONTROLS) {
        return invalid(
            "message",
            "must not contain control characters other than newline and tab",
        );
    }
    let kv_key = string(body, "kv_key")?;
    let kv_value = string(body, "kv_value")?;
    if let Some(key) = kv_key
        && !is_valid_kv_key(key)
    {
        return invalid("kv_key", "must be 1-64 of [A-Za-z0-9._-] and not . or ..");
    }
    if let Some(value) = kv_value {
        if kv_key.is_none() {
            return invalid("kv_value", "needs kv_key");
        }
        if value.chars().count() > 4096 {
            return invalid("kv_value", "must be at most 4096 characters");
        }
    }
    let triggered_by = triggered_by(body, DEFAULT_TRIGGERED_BY)?;
    let mut payload = Map::new();
    payload.insert("branch".into(), branch.into());
    payload.insert("message".into(), message.into());
    if let Some(key) = kv_key {
        payload.insert("kv_key".into(), key.into());
    }
    if let Some(value) = kv_value {
        payload.insert("kv_value".into(), value.into());
    }
    payload.insert("correlation_id".into(), correlation_id.into());
    payload.insert("triggered_by".into(), triggered_by.into());
    Ok(payload)
}

/// `triggered_by`, or `default` when the request names no one.
fn triggered_by<'b>(body: &'b Map<String, Value>, default: &'b str) -> Result<&'b str, Invalid> {
    let triggered_by = string(body, "triggered_by")?.unwrap_or(default);
    let length = triggered_by.chars().count();
    if length == 0 || length > MAX_TRIGGERED_BY_CHARS || has_control(triggered_by, &[]) {
        return invalid(
            "triggered_by",
            "must be 1 to 100 characters without control characters",
        );
    }
    Ok(triggered_by)
}

fn deploy(
    body: &Map<String, Value>,
    correlation_id: &str,
    signed_at: UnixTime,
) -> Result<Map<String, Value>, Invalid> {
    let environment = string(body, "environment")?;
    if !matches!(environment, Some("staging" | "production")) {
        return invalid("environment", "must be staging or production");
    }
    let service = string(body, "service")?;
    if !matches!(service, Some("web" | "mcp" | "superset" | "all")) {
        return invalid("service", "must be web, mcp, superset or all");
    }
    let Some(image_tag) = string(body, "image_tag")? else {
        return invalid("image_tag", "is required");
    };
    if !is_valid_docker_tag(image_tag) {
        return invalid("image_tag", "is not a valid Docker tag");
    }
    let odoo_user = string(body, "odoo_user")?;
    if odoo_user.is_some_and(|u| u.is_empty() || u.chars().count() > 200) {
        return invalid("odoo_user", "must be 1 to 200 characters");
    }
    if odoo_user.is_some_and(|u| has_control(u, &[])) {
        return invalid("odoo_user", "must not contain control characters");
    }
    let mut payload = Map::new();
    payload.insert("environment".into(), environment.into());
    payload.insert("image_tag".into(), image_tag.into());
    payload.insert("service".into(), service.into());
    let triggered_by = triggered_by(body, DEFAULT_DEPLOY_TRIGGERED_BY)?;
    payload.insert("correlation_id".into(), correlation_id.into());
    // When the caller signed the request, not when it passed through here; unix seconds, as
    // the seed's deploy payload has it.
    payload.insert("timestamp".into(), signed_at.as_secs().into());
    payload.insert("triggered_by".into(), triggered_by.into());
    if let Some(user) = odoo_user {
        payload.insert("odoo_user".into(), user.into());
    }
    Ok(payload)
}

fn check_github_limits(dispatch: &Dispatch) -> Result<(), Invalid> {
    let chars = dispatch.event_type.chars().count();
    if chars == 0 || chars > MAX_EVENT_TYPE_CHARS {
        return invalid("event_type", "must be 1 to 100 characters");
    }
    if dispatch.client_payload.len() > MAX_PAYLOAD_KEYS {
        return invalid("client_payload", "has more than 10 top-level keys");
    }
    if Value::Object(dispatch.client_payload.clone())
        .to_string()
        .len()
        >= MAX_PAYLOAD_BYTES
    {
        return invalid("client_payload", "must serialize to less than 64 KB");
    }
    Ok(())
}

/// Whether `text` holds a C0 or C1 control character (U+0000-U+001F, U+007F-U+009F) other
/// than those `allowed`.
fn has_control(text: &str, allowed: &[char]) -> bool {
    text.chars()
        .any(|c| c.is_control() && !allowed.contains(&c))
}

/// Why `name` is not a branch the workflow may check out, if it is not: a name
/// `git check-ref-format --branch` refuses, `HEAD`, or a full ref (`refs/...`, which would
/// reach tags, pull requests or other refs).
pub(crate) fn branch_problem(name: &str) -> Option<&'static str> {
    if !is_valid_ref_name(name) {
        Some("is not a valid git branch name (git check-ref-format --branch)")
    } else if name == "HEAD" {
        Some("must name a branch, not HEAD")
    } else if name.starts_with("refs/") {
        Some("must be a branch name, not a full ref (refs/...)")
    } else {
        None
    }
}

/// `git check-ref-format` rules for a branch name (as `refs/heads/<name>`).
#[must_use]
pub(crate) fn is_valid_ref_name(name: &str) -> bool {
    if name.is_empty()
        || name == "@"
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with('.')
        || name.starts_with('-')
        || name.contains("..")
        || name.contains("@{")
        || name.contains("//")
    {
        return false;
    }
    if name
        .chars()
        .any(|c| c.is_ascii_control() || c == '\u{7f}' || " ~^:?*[\\".contains(c))
    {
        return false;
    }
    name.split('/')
        .all(|part| !part.starts_with('.') && !part.ends_with(".lock") && !part.is_empty())
}

/// `[A-Za-z0-9._-]{1,64}`, not `.` or `..` (it becomes `ops/kv/<key>.txt`).
#[must_use]
pub(crate) fn is_valid_kv_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[must_use]
pub(crate) fn is_valid_docker_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pulser_runtime::reply::MAX_CORRELATION_ID_LEN as MAX_REQUEST_ID_LEN;
    use serde_json::json;

    fn with(request_id: Value, timestamp: Value) -> Result<Dispatch, Invalid> {
        parse(
            &json!({"request_id": request_id, "timestamp": timestamp, "message": "m"}),
            "c",
            &BranchPrefix::default(),
        )
    }

    /// A git-ops request with `fields` added, under `prefix`.
    fn git_ops_under(prefix: &str, fields: &Value) -> Result<Dispatch, Invalid> {
        let mut body = json!({"request_id": "r", "timestamp": 1, "message": "m"});
        for (name, value) in fields.as_object().unwrap() {
            body[name] = value.clone();
        }
        parse(&body, "c", &BranchPrefix::from_setting(prefix).unwrap())
    }

    fn deploy_with(fields: &Value) -> Result<Dispatch, Invalid> {
        let mut body = json!({"request_id": "r", "timestamp": 1, "event_type": "deploy_pulse_hub",
            "environment": "staging", "image_tag": "v1", "service": "web"});
        for (name, value) in fields.as_object().unwrap() {
            body[name] = value.clone();
        }
        parse(&body, "c", &BranchPrefix::default())
    }

    #[test]
    fn a_timestamp_is_rfc3339_or_unix_seconds() {
        for (timestamp, secs) in [
            (json!(1_795_000_000), 1_795_000_000),
            (json!("2026-11-18T11:06:40Z"), 1_795_000_000),
            (json!("2026-11-18T12:06:40.5+01:00"), 1_795_000_000),
        ] {
            let d = with(json!("r"), timestamp.clone()).unwrap();
            assert_eq!(d.signed_at, UnixTime::from_secs(secs), "{timestamp}");
        }
    }

    #[test]
    fn other_timestamps_are_refused_naming_the_field() {
        for timestamp in [
            Value::Null,
            json!(-1),
            json!(1.5),
            json!("1795000000"),
            json!("2026-11-18 11:06:40"),
            json!(true),
        ] {
            let e = with(json!("r"), timestamp.clone()).unwrap_err();
            assert_eq!(e.field, "timestamp", "{timestamp}");
        }
    }

    #[test]
    fn request_ids_are_tokens_of_at_most_128() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        for good in ["r", "odoo:42.1_x-y", longest.as_str()] {
            let d = with(json!(good), json!(1)).unwrap();
            assert_eq!(d.request_id, good);
            assert_eq!(d.client_payload["request_id"], good);
        }
        for bad in [
            Value::Null,
            json!(""),
            json!("a b"),
            json!("a/b"),
            json!("ä"),
            json!(7),
            json!("a".repeat(MAX_REQUEST_ID_LEN + 1)),
        ] {
            let e = with(bad.clone(), json!(1)).unwrap_err();
            assert_eq!(e.field, "request_id", "{bad}");
        }
    }

    #[test]
    fn request_id_is_checked_before_the_events_fields() {
        let e = parse(&json!({"branch": "a..b"}), "c", &BranchPrefix::default()).unwrap_err();
        assert_eq!(e.field, "request_id");
    }

    #[test]
    fn ref_names() {
        for good in [
            "gitops/push",
            "main",
            "feature/DEV-1-0001",
            "a.b",
            "v1.0-rc",
        ] {
            assert!(is_valid_ref_name(good), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a..b",
            "a.",
            ".a",
            "a/.b",
            "a.lock",
            "a/b.lock/c",
            "a b",
            "a~b",
            "a^b",
            "a:b",
            "a?b",
            "a*b",
            "a[b",
            "a\\b",
            "@",
            "a@{b",
            "a//b",
            "-a",
            "a\u{1}b",
        ] {
            assert!(!is_valid_ref_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn head_and_full_refs_are_not_branches() {
        for bad in [
            "HEAD",
            "refs/heads/main",
            "refs/tags/v1",
            "refs/pull/1/head",
        ] {
            assert!(is_valid_ref_name(bad), "{bad:?} passes the ref rules alone");
            assert!(branch_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "HEADS",
            "head",
            "x/HEAD",
            "refs",
            "refsx/a",
            "gitops/refs/a",
        ] {
            assert_eq!(branch_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn a_branch_prefix_admits_only_branches_under_it() {
        let under = |branch: &str| git_ops_under("gitops/", &json!({ "branch": branch }));
        for good in ["gitops/push", "gitops/a/b"] {
            assert_eq!(under(good).unwrap().client_payload["branch"], good);
        }
        for bad in ["main", "gitopsx", "x/gitops/a", "gitops"] {
            assert_eq!(under(bad).unwrap_err().field, "branch", "{bad:?}");
        }
        // A request without a branch gets the default, which must be under the prefix too.
        let e = git_ops_under("release/", &json!({})).unwrap_err();
        assert_eq!(e.field, "branch");
        assert!(git_ops_under("gitops/", &json!({})).is_ok());
        assert!(git_ops_under("", &json!({"branch": "main"})).is_ok());
    }

    #[test]
    fn a_prefix_no_branch_can_start_with_is_refused() {
        for good in ["", "gitops/", "odoo-", "team/ops."] {
            assert!(BranchPrefix::from_setting(good).is_ok(), "{good:?}");
        }
        for bad in ["refs/", "refs/heads/", "/", "-", "a..", "a b", "a/.", "x~"] {
            assert!(BranchPrefix::from_setting(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn triggered_by_is_1_to_100_characters_without_controls() {
        let longest = "t".repeat(MAX_TRIGGERED_BY_CHARS);
        for good in [
            "odoo",
            "Ada Lovelace <ada@example.com>",
            "ä",
            longest.as_str(),
        ] {
            let d = git_ops_under("", &json!({ "triggered_by": good })).unwrap();
            assert_eq!(d.client_payload["triggered_by"], good);
        }
        let d = git_ops_under("", &json!({})).unwrap();
        assert_eq!(d.client_payload["triggered_by"], DEFAULT_TRIGGERED_BY);
        for bad in [
            json!(""),
            json!("t".repeat(MAX_TRIGGERED_BY_CHARS + 1)),
            json!("a\nb"),
            json!("a\tb"),
            json!("a\u{1b}[31m"),
            json!("a\u{7f}"),
            json!("a\u{85}"),
            json!(7),
        ] {
            let e = git_ops_under("", &json!({ "triggered_by": bad })).unwrap_err();
            assert_eq!(e.field, "triggered_by", "{bad}");
        }
    }

    #[test]
    fn a_message_may_hold_newlines_and_tabs_and_no_other_controls() {
        let text = "subject\n\n\tbody line";
        let d = git_ops_under("", &json!({ "message": text })).unwrap();
        assert_eq!(d.client_payload["message"], text);
        for bad in [
            "a\u{0}b",
            "a\rb",
            "a\u{1b}[2J",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{9b}31m",
        ] {
            let e = git_ops_under("", &json!({ "message": bad })).unwrap_err();
            assert_eq!(e.field, "message", "{bad:?}");
        }
    }

    #[test]
    fn odoo_user_holds_no_controls() {
        assert!(deploy_with(&json!({"odoo_user": "Ada Lovelace"})).is_ok());
        for bad in ["a\nb", "a\tb", "a\u{1b}", "a\u{9f}"] {
            let e = deploy_with(&json!({ "odoo_user": bad })).unwrap_err();
            assert_eq!(e.field, "odoo_user", "{bad:?}");
        }
    }

    #[test]
    fn kv_keys() {
        assert!(is_valid_kv_key("deploy.version_1-a"));
        for bad in ["", ".", "..", "a/b", "a b", &"k".repeat(65)] {
            assert!(!is_valid_kv_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn docker_tags() {
        assert!(is_valid_docker_tag("v1.2.3"));
        assert!(is_valid_docker_tag("_latest"));
        for bad in ["", ".x", "-x", "a:b", "a/b", &"t".repeat(129)] {
            assert!(!is_valid_docker_tag(bad), "{bad:?}");
        }
    }
}
