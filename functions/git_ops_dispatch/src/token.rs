//! The installation-token decisions, without I/O and with `now` passed in: when a cached
//! token may be used, what GitHub's answer to an exchange means, when a refused app JWT is
//! re-signed with GitHub's clock, and what a dispatch answer calls for. The I/O shell
//! ([`crate::github`]) carries the decisions out.

use pulser_runtime::time::UnixTime;
use serde_json::Value;

use crate::error::GithubError;

/// A cached token is used until this many seconds before it expires.
pub(crate) const TOKEN_MARGIN_SECS: u64 = 60;
/// A JWT refused for its time claims is re-signed only when GitHub's clock is further off
/// than this (a smaller offset cannot explain the refusal).
pub(crate) const SKEW_SECS: i64 = 30;

/// One installation token and what it was minted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// API URL, app, installation and repository: two apps, two API URLs or two
    /// repositories never share a token.
    pub(crate) cache_key: String,
    pub(crate) value: String,
    /// In our clock.
    pub(crate) expires_at: u64,
    pub(crate) minted_at: u64,
}

impl Token {
    /// The cache value: `cache_key \n expires_at \n minted_at \n token`.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.cache_key, self.expires_at, self.minted_at, self.value
        )
    }

    /// A cached value, when it is a token for `cache_key` still valid past the margin at
    /// `now`.
    pub(crate) fn usable(bytes: &[u8], cache_key: &str, now: u64) -> Option<Self> {
        let text = core::str::from_utf8(bytes).ok()?;
        let mut lines = text.split('\n');
        let (key, expires, minted, value) =
            (lines.next()?, lines.next()?, lines.next()?, lines.next()?);
        let token = Self {
            cache_key: key.to_owned(),
            value: value.to_owned(),
            expires_at: expires.parse().ok()?,
            minted_at: minted.parse().ok()?,
        };
        (token.cache_key == cache_key
            && !token.value.is_empty()
            && token.expires_at > now.saturating_add(TOKEN_MARGIN_SECS))
        .then_some(token)
    }
}

/// GitHub's answer, as the decisions need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) status: u16,
    /// The `Date` header.
    pub(crate) date: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

impl Answer<'_> {
    /// GitHub's `message`, else the status.
    pub(crate) fn message(&self) -> String {
        serde_json::from_slice::<Value>(self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| format!("GitHub answered {}", self.status))
    }
}

/// What an exchange answer means.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exchanged {
    /// A token (201).
    Token(Token),
    /// Refused: re-sign once with this clock offset (GitHub's `Date` minus `now`), because
    /// GitHub refused the JWT's `iat`/`exp` and its clock is off by more than [`SKEW_SECS`].
    Resign(i64),
    /// Refused for good.
    Refused(GithubError),
}

/// Decides what the answer to an exchange signed with `clock_offset` means at `now`.
/// A refusal is re-signed only after a first attempt (`clock_offset == 0`).
pub(crate) fn exchanged(
    answer: &Answer<'_>,
    cache_key: &str,
    now: u64,
    clock_offset: i64,
) -> Exchanged {
    if answer.status != 201 {
        let message = answer.message();
        let offset = answer
            .date
            .and_then(UnixTime::parse_http_date)
            .map(|github| {
                i64::try_from(github.as_secs()).unwrap_or(0) - i64::try_from(now).unwrap_or(0)
            });
        let time_claims = message.contains("'iat'") || message.contains("'exp'");
        return match offset {
            Some(offset)
                if clock_offset == 0
                    && answer.status == 401
                    && time_claims
                    && offset.abs() > SKEW_SECS =>
            {
                Exchanged::Resign(offset)
            }
            _ => Exchanged::Refused(GithubError::TokenExchange(Some(answer.status), message)),
        };
    }
    let body: Value = serde_json::from_slice(answer.body).unwrap_or(Value::Null);
    let value = body.get("token").and_then(Value::as_str);
    let expires = body
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(UnixTime::parse_rfc3339)
        .map(UnixTime::as_secs);
    match (value, expires) {
        (Some(value), Some(expires)) => Exchanged::Token(Token {
            cache_key: cache_key.to_owned(),
            value: value.to_owned(),
            // Kept in our clock: GitHub's expiry shifted by the measured offset.
            expires_at: expires.saturating_add_signed(-clock_offset),
            minted_at: now,
        }),
        _ => Exchanged::Refused(GithubError::TokenExchange(
            Some(201),
            "the token answer lacks token or expires_at".into(),
        )),
    }
}

/// What a dispatch answer calls for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Dispatched {
    /// 204: done.
    Sent,
    /// 401 on the first attempt: forget the token and try once more with a fresh one.
    RetryFresh,
    /// Anything else.
    Failed(GithubError),
}

/// Decides what the answer to dispatch `attempt` (0 or 1) to `owner/repo` calls for.
pub(crate) fn dispatched(answer: &Answer<'_>, attempt: u8, repository: &str) -> Dispatched {
    match answer.status {
        204 => Dispatched::Sent,
        401 if attempt == 0 => Dispatched::RetryFresh,
        404 => Dispatched::Failed(GithubError::Dispatch(
            Some(404),
            format!(
                "{}: the app is not installed on {repository} or lacks contents:write",
                answer.message()
            ),
        )),
        status => Dispatched::Failed(GithubError::Dispatch(Some(status), answer.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "https://api.github.com|123|456";
    const NOW: u64 = 1_700_000_000;

    fn answer(status: u16, date: Option<&'static str>, body: &'static str) -> Answer<'static> {
        Answer {
            status,
            date,
            body: body.as_bytes(),
        }
    }

    fn token(expires_at: u64) -> Token {
        Token {
            cache_key: KEY.into(),
            value: "ghs_x".into(),
            expires_at,
            minted_at: NOW,
        }
    }

    #[test]
    fn a_cached_token_is_used_until_the_margin() {
        let fresh = token(NOW + TOKEN_MARGIN_SECS + 1);
        assert_eq!(
            Token::usable(fresh.encode().as_bytes(), KEY, NOW),
            Some(fresh)
        );
        let late = token(NOW + TOKEN_MARGIN_SECS);
        assert_eq!(Token::usable(late.encode().as_bytes(), KEY, NOW), None);
    }

    #[test]
    fn a_cached_token_of_another_app_or_garbage_is_not_used() {
        let other = token(NOW + 3600);
        let text = other.encode();
        assert_eq!(Token::usable(text.as_bytes(), "other|1|2", NOW), None);
        assert_eq!(Token::usable(b"junk", KEY, NOW), None);
        assert_eq!(Token::usable(b"\xff\n1\n2\nx", KEY, NOW), None);
        let empty = format!("{KEY}\n{}\n{NOW}\n", NOW + 3600);
        assert_eq!(Token::usable(empty.as_bytes(), KEY, NOW), None);
    }

    #[test]
    fn a_201_gives_a_token_whose_expiry_is_in_our_clock() {
        let a = answer(
            201,
            None,
            r#"{"token":"ghs_1","expires_at":"2023-11-14T23:13:20Z"}"#,
        );
        let Exchanged::Token(t) = exchanged(&a, KEY, NOW, -120) else {
            panic!("no token");
        };
        assert_eq!(
            (t.value.as_str(), t.expires_at, t.minted_at),
            ("ghs_1", NOW + 3600 + 120, NOW)
        );
    }

    #[test]
    fn a_201_without_token_or_expiry_is_refused() {
        for body in [
            r#"{"token":"ghs_1"}"#,
            r#"{"expires_at":"2023-11-14T22:13:20Z"}"#,
            "x",
        ] {
            assert!(matches!(
                exchanged(&answer(201, None, body), KEY, NOW, 0),
                Exchanged::Refused(GithubError::TokenExchange(Some(201), _))
            ));
        }
    }

    #[test]
    fn a_jwt_refused_for_its_time_claims_under_a_skewed_clock_is_resigned_once() {
        // GitHub is 10 minutes ahead (Tue, 14 Nov 2023 22:23:20 GMT = NOW + 600).
        let refused = answer(
            401,
            Some("Tue, 14 Nov 2023 22:23:20 GMT"),
            r#"{"message":"'Issued at' claim ('iat') must be an Integer representing a time in the past"}"#,
        );
        assert_eq!(exchanged(&refused, KEY, NOW, 0), Exchanged::Resign(600));
        assert!(matches!(
            exchanged(&refused, KEY, NOW, 600),
            Exchanged::Refused(GithubError::TokenExchange(Some(401), _))
        ));
    }

    #[test]
    fn other_refusals_are_final() {
        let small_skew = answer(
            401,
            Some("Tue, 14 Nov 2023 22:13:40 GMT"),
            r#"{"message":"'exp' too far"}"#,
        );
        let not_time = answer(
            401,
            Some("Tue, 14 Nov 2023 22:23:20 GMT"),
            r#"{"message":"Bad credentials"}"#,
        );
        let no_date = answer(401, None, r#"{"message":"'iat' in the future"}"#);
        let server = answer(502, Some("Tue, 14 Nov 2023 22:23:20 GMT"), "");
        for a in [small_skew, not_time, no_date, server] {
            assert!(matches!(
                exchanged(&a, KEY, NOW, 0),
                Exchanged::Refused(GithubError::TokenExchange(Some(_), _))
            ));
        }
        let Exchanged::Refused(GithubError::TokenExchange(_, message)) =
            exchanged(&server, KEY, NOW, 0)
        else {
            panic!("not refused");
        };
        assert_eq!(message, "GitHub answered 502");
    }

    #[test]
    fn a_dispatch_answer_decides_the_next_step() {
        assert_eq!(
            dispatched(&answer(204, None, ""), 0, "o/r"),
            Dispatched::Sent
        );
        assert_eq!(
            dispatched(&answer(401, None, ""), 0, "o/r"),
            Dispatched::RetryFresh
        );
        assert_eq!(
            dispatched(
                &answer(401, None, r#"{"message":"Bad credentials"}"#),
                1,
                "o/r"
            ),
            Dispatched::Failed(GithubError::Dispatch(Some(401), "Bad credentials".into()))
        );
        assert_eq!(
            dispatched(&answer(404, None, r#"{"message":"Not Found"}"#), 0, "o/r"),
            Dispatched::Failed(GithubError::Dispatch(
                Some(404),
                "Not Found: the app is not installed on o/r or lacks contents:write".into()
            ))
        );
        assert_eq!(
            dispatched(&answer(422, None, "{}"), 0, "o/r"),
            Dispatched::Failed(GithubError::Dispatch(
                Some(422),
                "GitHub answered 422".into()
            ))
        );
    }
}
