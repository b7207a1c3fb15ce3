//! The query string of a read, parsed and checked before anything is fetched, and the
//! PostgREST query it becomes. Pure: no I/O, no clock.
//!
//! Empty values count as absent, so a console can send `?source=&kind=&status=` as a
//! template. Every other value is checked against what the column can hold, so nothing
//! a caller sends reaches PostgREST's filter syntax unchecked.

use pulser_supabase::Query;

use crate::error::OasisError;

/// What a read route takes, for the refusal of anything else.
pub(crate) const PARAMETERS: &str =
    "vtid, source, kind, status, limit, cursor (the feed: no cursor; access_token)";

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u16 = 50;
/// The most rows one answer carries; a larger `limit` is capped to it.
pub const MAX_LIMIT: u16 = 100;
/// Events the feed sends a client that has none yet (no `Last-Event-ID`).
pub const FEED_BACKLOG: u16 = 20;

/// The columns a reader sees.
pub(crate) const COLUMNS: &str =
    "id,vtid,layer,module,source,kind,status,title,ref,link,meta,delivery_id,created_at";

/// The statuses `oasis_events.status` admits.
pub(crate) const STATUSES: [&str; 5] = ["queued", "in_progress", "success", "failure", "cancelled"];

/// Which read a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// `GET /api/v1/oasis/events` or `GET /events`: a page, newest first.
    Events,
    /// `GET /api/v1/devhub/feed`: Server-Sent Events, oldest first after `Last-Event-ID`.
    Feed,
}

/// The checked parameters of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) vtid: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) status: Option<&'static str>,
    /// Rows wanted, already capped at [`MAX_LIMIT`].
    pub(crate) limit: u16,
    /// Events: only ids below this one (the previous page's `next_cursor`).
    pub(crate) cursor: Option<u64>,
    /// Feed: the access token, for an `EventSource`, which cannot set headers.
    pub(crate) access_token: Option<String>,
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space). `None` when
/// an escape is malformed or the bytes are not UTF-8.
fn decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

fn token_like(value: &str, max: usize, allowed: impl Fn(u8) -> bool) -> bool {
    !value.is_empty() && value.len() <= max && value.bytes().all(allowed)
}

/// An id as this table assigns them: a positive decimal integer.
pub(crate) fn event_id(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&id| id > 0)
}

/// Parses the query string of a `read`.
///
/// # Errors
/// [`OasisError::UnknownParameter`] or [`OasisError::InvalidParameter`] naming the first
/// parameter at fault.
pub(crate) fn parse(query: Option<&str>, read: Read) -> Result<Filter, OasisError> {
    let mut filter = Filter {
        limit: match read {
            Read::Events => DEFAULT_LIMIT,
            Read::Feed => FEED_BACKLOG,
        },
        ..Filter::default()
    };
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(raw_name).unwrap_or_default();
        let Some(value) = decode(raw_value) else {
            return Err(match known(&name, read) {
                Some(name) => OasisError::InvalidParameter(name, "percent-encoded UTF-8"),
                None => OasisError::UnknownParameter(name),
            });
        };
        let Some(name) = known(&name, read) else {
            return Err(OasisError::UnknownParameter(name));
        };
        if value.is_empty() {
            continue;
        }
        let invalid = |what| OasisError::InvalidParameter(name, what);
        match name {
            "vtid" => {
                if !token_like(&value, 64, |b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(invalid("a VTID such as DEV-CICDL-0031"));
                }
                filter.vtid = Some(value.to_ascii_uppercase());
            }
            "source" | "kind" => {
                let ok = token_like(&value, 64, |b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                });
                if !ok {
                    return Err(invalid("lower-case letters, digits, `.`, `_` or `-`"));
                }
                if name == "source" {
                    filter.source = Some(value);
                } else {
                    filter.kind = Some(value);
                }
            }
            "status" => {
                filter.status =
                    Some(STATUSES.into_iter().find(|s| *s == value).ok_or_else(|| {
                        invalid("queued, in_progress, success, failure or cancelled")
                    })?);
            }
            "limit" => {
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| invalid("a whole number from 1 (larger is capped at 100)"))?;
                filter.limit = u16::try_from(n.min(u64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT);
            }
            "cursor" => {
                filter.cursor =
                    Some(event_id(&value).ok_or_else(|| invalid("a next_cursor this API sent"))?);
            }
            _ => filter.access_token = Some(value),
        }
    }
    Ok(filter)
}

/// The parameter `name` as a static string, when `read` takes it.
fn known(name: &str, read: Read) -> Option<&'static str> {
    let common = ["vtid", "source", "kind", "status", "limit"];
    let own: &[&'static str] = match read {
        Read::Events => &["cursor"],
        Read::Feed => &["access_token"],
    };
    common
        .into_iter()
        .chain(own.iter().copied())
        .find(|n| *n == name)
}

fn filters(filter: &Filter) -> Query {
    let mut query = Query::default();
    query.push("select", COLUMNS);
    for (column, value) in [
        ("vtid", filter.vtid.as_deref()),
        ("source", filter.source.as_deref()),
        ("kind", filter.kind.as_deref()),
        ("status", filter.status),
    ] {
        if let Some(value) = value {
            query.push(column, &format!("eq.{value}"));
        }
    }
    query
}

/// The PostgREST query of a page: newest first, below the cursor, one row more than the
/// limit (its presence says there is a next page).
pub(crate) fn page(filter: &Filter) -> Query {
    let mut query = filters(filter);
    if let Some(cursor) = filter.cursor {
        query.push("id", &format!("lt.{cursor}"));
    }
    query
        .push("order", "id.desc")
        .push("limit", &(filter.limit + 1).to_string());
    query
}

/// The PostgREST query of a feed answer: after `Last-Event-ID`, oldest first; without one,
/// the newest [`Filter::limit`] (the answer puts them oldest first).
pub(crate) fn feed(filter: &Filter, after: Option<u64>) -> Query {
    let mut query = filters(filter);
    match after {
        Some(after) => query
            .push("id", &format!("gt.{after}"))
            .push("order", "id.asc"),
        None => query.push("order", "id.desc"),
    };
    query.push("limit", &filter.limit.to_string());
    query
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use pulser_runtime::pipeline::Problem as _;

    use super::*;

    #[test]
    fn empty_values_are_absent_and_the_limit_is_capped() {
        let filter = parse(Some("source=&kind=&status=&limit=500"), Read::Events).unwrap();
        assert_eq!(
            filter,
            Filter {
                limit: MAX_LIMIT,
                ..Filter::default()
            }
        );
        assert_eq!(parse(None, Read::Events).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(parse(None, Read::Feed).unwrap().limit, FEED_BACKLOG);
    }

    #[test]
    fn values_are_decoded_then_checked_against_what_the_column_holds() {
        let filter = parse(
            Some("vtid=dev-cicdl-0031&source=github.actions&kind=workflow_run&status=success&limit=5&cursor=42"),
            Read::Events,
        )
        .unwrap();
        assert_eq!(filter.vtid.as_deref(), Some("DEV-CICDL-0031"));
        assert_eq!(filter.source.as_deref(), Some("github.actions"));
        assert_eq!(filter.kind.as_deref(), Some("workflow_run"));
        assert_eq!(filter.status, Some("success"));
        assert_eq!((filter.limit, filter.cursor), (5, Some(42)));
        for (query, field) in [
            ("vtid=a%2Cb", "vtid"),
            ("source=eq.x)", "source"),
            ("status=done", "status"),
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("cursor=abc", "cursor"),
            ("cursor=0", "cursor"),
            ("kind=%ZZ", "kind"),
        ] {
            assert_eq!(
                parse(Some(query), Read::Events)
                    .unwrap_err()
                    .details()
                    .field,
                Some(field),
                "{query}"
            );
        }
    }

    #[test]
    fn a_parameter_the_route_does_not_take_is_named() {
        assert_eq!(
            parse(Some("order=id.asc"), Read::Events),
            Err(OasisError::UnknownParameter("order".into()))
        );
        assert_eq!(
            parse(Some("cursor=5"), Read::Feed),
            Err(OasisError::UnknownParameter("cursor".into()))
        );
        assert_eq!(
            parse(Some("access_token=t"), Read::Events),
            Err(OasisError::UnknownParameter("access_token".into()))
        );
        let feed = parse(Some("access_token=a+b%3D"), Read::Feed).unwrap();
        assert_eq!(feed.access_token.as_deref(), Some("a b="));
    }

    #[test]
    fn a_page_asks_for_one_row_more_than_it_shows_below_the_cursor() {
        let filter = parse(Some("vtid=DEV-CICDL-0031&limit=2&cursor=9"), Read::Events).unwrap();
        assert_eq!(
            page(&filter).finish(),
            format!(
                "?select={}&vtid=eq.DEV-CICDL-0031&id=lt.9&order=id.desc&limit=3",
                COLUMNS.replace(',', "%2C")
            )
        );
    }

    #[test]
    fn the_feed_reads_oldest_first_after_the_last_event_or_the_newest_without_one() {
        let filter = parse(Some("status=failure"), Read::Feed).unwrap();
        let select = format!("?select={}&status=eq.failure", COLUMNS.replace(',', "%2C"));
        assert_eq!(
            feed(&filter, Some(7)).finish(),
            format!("{select}&id=gt.7&order=id.asc&limit=20")
        );
        assert_eq!(
            feed(&filter, None).finish(),
            format!("{select}&order=id.desc&limit=20")
        );
    }

    #[test]
    fn event_ids_are_positive_decimal_integers() {
        assert_eq!(event_id("12"), Some(12));
        for bad in ["", "0", "+1", "1.0", " 1", "99999999999999999999"] {
            assert_eq!(event_id(bad), None, "{bad:?}");
        }
    }
}
