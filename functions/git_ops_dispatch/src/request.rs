//! The two requests Odoo may send, validated field by field into the `repository_dispatch`
//! GitHub will receive.

use serde_json::{Map, Value, json};

/// Branch used when a git-ops request names none.
pub(crate) const DEFAULT_BRANCH: &str = "gitops/push";
/// GitHub's limits on a dispatch.
pub(crate) const MAX_EVENT_TYPE_CHARS: usize = 100;
/// At most this many top-level keys in `client_payload`.
pub(crate) const MAX_PAYLOAD_KEYS: usize = 10;
/// `client_payload` serialized must stay below this many bytes.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

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

/// A validated dispatch: the event type and its client payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dispatch {
    /// `git-ops` or `deploy_pulse_hub`.
    pub(crate) event_type: &'static str,
    /// What the workflow receives as `github.event.client_payload`.
    pub(crate) client_payload: Map<String, Value>,
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

/// Validates `body` (already authenticated) into a dispatch; `correlation_id` and `now`
/// (unix seconds, RFC 3339 `timestamp` of a deploy) are added to the payload.
///
/// # Errors
/// [`Invalid`] naming the first failing field.
pub(crate) fn parse(
    body: &Value,
    correlation_id: &str,
    timestamp: &str,
) -> Result<Dispatch, Invalid> {
    let Some(body) = body.as_object() else {
        return invalid("body", "must be a JSON object");
    };
    let dispatch = match string(body, "event_type")? {
        Some("deploy_pulse_hub") => deploy(body, correlation_id, timestamp)?,
        Some("git-ops") | None => git_ops(body, correlation_id)?,
        Some(_) => {
            return invalid(
                "event_type",
                "must be deploy_pulse_hub (or absent for git-ops)",
            );
        }
    };
    check_github_limits(&dispatch)?;
    Ok(dispatch)
}

fn git_ops(body: &Map<String, Value>, correlation_id: &str) -> Result<Dispatch, Invalid> {
    let branch = string(body, "branch")?.unwrap_or(DEFAULT_BRANCH);
    if !is_valid_ref_name(branch) {
        return invalid(
            "branch",
            "is not a valid git ref name (git check-ref-format)",
        );
    }
    let Some(message) = string(body, "message")? else {
        return invalid("message", "is required");
    };
    let length = message.chars().count();
    if length == 0 || length > 1000 {
        return invalid("message", "must be 1 to 1000 characters");
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
    let triggered_by = string(body, "triggered_by")?.unwrap_or("odoo");
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
    Ok(Dispatch {
        event_type: "git-ops",
        client_payload: payload,
    })
}

fn deploy(
    body: &Map<String, Value>,
    correlation_id: &str,
    timestamp: &str,
) -> Result<Dispatch, Invalid> {
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
    let mut payload = json!({
        "environment": environment,
        "image_tag": image_tag,
        "service": service,
        "correlation_id": correlation_id,
        "timestamp": timestamp,
    });
    if let (Some(user), Some(map)) = (odoo_user, payload.as_object_mut()) {
        map.insert("odoo_user".into(), user.into());
    }
    Ok(Dispatch {
        event_type: "deploy_pulse_hub",
        client_payload: payload.as_object().cloned().unwrap_or_default(),
    })
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
    use super::*;

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
