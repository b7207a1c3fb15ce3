//! Route matching with Spin's semantics for the patterns the project uses.
//!
//! - `/path` matches exactly that path (a trailing slash on either side is ignored).
//! - `/path/...` (or `/path/*`) matches `/path` and everything below it; `/...` matches all.
//! - An exact route beats a wildcard; among wildcards the longest prefix wins.
//! - When two triggers give the same route, the later one wins (Spin warns the same way).
//!
//! Route parameters (`/users/:id`) are refused at start-up rather than matched differently
//! from Spin.

use std::collections::HashMap;

/// Why a route pattern cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A `:name` segment or a `*` that is not a trailing wildcard.
    #[error(
        "route `{route}`: the edge host serves exact routes and trailing `/...` wildcards only"
    )]
    Unsupported {
        /// The route as written.
        route: String,
    },
}

/// A matched route: which component serves it, and the pattern as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch<'a, T> {
    /// The route pattern from spin.toml (`/push_to_odoo/...`).
    pub pattern: &'a str,
    /// What the route leads to (a component handle).
    pub target: &'a T,
}

/// A route table over targets `T`.
#[derive(Debug, Clone)]
pub struct Router<T> {
    exact: HashMap<String, (String, T)>,
    /// (prefix without trailing slash, pattern, target), longest prefix first.
    wildcards: Vec<(String, String, T)>,
}

/// A route replaced by a later trigger with the same pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The route as written.
    pub route: String,
}

impl<T> Router<T> {
    /// Builds the table from `(pattern, target)` pairs in manifest order.
    ///
    /// # Errors
    /// [`RouteError::Unsupported`] for a pattern with parameters or inner wildcards.
    pub fn build(
        routes: impl IntoIterator<Item = (String, T)>,
    ) -> Result<(Self, Vec<Duplicate>), RouteError> {
        let mut exact = HashMap::new();
        let mut wildcards: Vec<(String, String, T)> = Vec::new();
        let mut duplicates = Vec::new();
        for (pattern, target) in routes {
            let absolute = if pattern.starts_with('/') {
                pattern.clone()
            } else {
                format!("/{pattern}")
            };
            let wildcard_prefix = absolute
                .strip_suffix("/...")
                .or_else(|| absolute.strip_suffix("/*"));
            let checked = wildcard_prefix.unwrap_or(&absolute);
            if checked.contains("/:") || checked.contains('*') || checked.ends_with("/...") {
                return Err(RouteError::Unsupported { route: pattern });
            }
            match wildcard_prefix {
                Some(prefix) => {
                    let prefix = trim_trailing_slash(prefix).to_owned();
                    if let Some(position) = wildcards.iter().position(|(p, _, _)| *p == prefix) {
                        wildcards.remove(position);
                        duplicates.push(Duplicate {
                            route: pattern.clone(),
                        });
                    }
                    wildcards.push((prefix, pattern, target));
                }
                None => {
                    let key = trim_trailing_slash(&absolute).to_owned();
                    if exact.insert(key, (pattern.clone(), target)).is_some() {
                        duplicates.push(Duplicate { route: pattern });
                    }
                }
            }
        }
        wildcards.sort_by_key(|(prefix, _, _)| std::cmp::Reverse(prefix.len()));
        Ok((Self { exact, wildcards }, duplicates))
    }

    /// The route serving `path` (no query string), if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_, T>> {
        let path = trim_trailing_slash(path);
        if let Some((pattern, target)) = self.exact.get(path) {
            return Some(RouteMatch { pattern, target });
        }
        self.wildcards
            .iter()
            .find(|(prefix, _, _)| {
                path == prefix
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .map(|(_, pattern, target)| RouteMatch { pattern, target })
    }

    /// Every route pattern and its target, exact routes first.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &T)> {
        self.exact
            .values()
            .map(|(pattern, target)| (pattern.as_str(), target))
            .chain(
                self.wildcards
                    .iter()
                    .map(|(_, pattern, target)| (pattern.as_str(), target)),
            )
    }
}

/// `/a/` -> `/a`, `/` -> `` (Spin strips one trailing slash).
fn trim_trailing_slash(path: &str) -> &str {
    path.strip_suffix('/').unwrap_or(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn router(routes: &[(&str, &'static str)]) -> Router<&'static str> {
        Router::build(routes.iter().map(|(r, t)| ((*r).to_owned(), *t)))
            .unwrap()
            .0
    }

    fn target(router: &Router<&'static str>, path: &str) -> Option<&'static str> {
        router.route(path).map(|m| *m.target)
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        let r = router(&[("/odoo_event_ingest", "ingest"), ("/pulser/git-ops", "git")]);
        assert_eq!(target(&r, "/odoo_event_ingest"), Some("ingest"));
        assert_eq!(target(&r, "/odoo_event_ingest/"), Some("ingest"));
        assert_eq!(target(&r, "/pulser/git-ops"), Some("git"));
        assert_eq!(target(&r, "/odoo_event_ingest/x"), None);
        assert_eq!(target(&r, "/odoo_event_ingestx"), None);
        assert_eq!(target(&r, "/pulser"), None);
        assert_eq!(target(&r, "/"), None);
    }

    #[test]
    fn a_trailing_wildcard_matches_the_prefix_and_below() {
        let r = router(&[("/push_to_odoo/...", "push")]);
        assert_eq!(target(&r, "/push_to_odoo"), Some("push"));
        assert_eq!(target(&r, "/push_to_odoo/"), Some("push"));
        assert_eq!(target(&r, "/push_to_odoo/drain"), Some("push"));
        assert_eq!(target(&r, "/push_to_odoo/a/b"), Some("push"));
        assert_eq!(target(&r, "/push_to_odoox"), None);
        assert_eq!(target(&r, "/push_to"), None);
        assert_eq!(
            r.route("/push_to_odoo/drain").unwrap().pattern,
            "/push_to_odoo/..."
        );
    }

    #[test]
    fn star_is_a_trailing_wildcard_too() {
        let r = router(&[("/a/*", "a")]);
        assert_eq!(target(&r, "/a/b"), Some("a"));
        assert_eq!(target(&r, "/a"), Some("a"));
    }

    #[test]
    fn a_root_wildcard_matches_everything() {
        let r = router(&[("/...", "all")]);
        assert_eq!(target(&r, "/"), Some("all"));
        assert_eq!(target(&r, "/x/y"), Some("all"));
        assert_eq!(target(&r, ""), Some("all"));
    }

    #[test]
    fn exact_beats_wildcard() {
        let r = router(&[("/...", "all"), ("/one", "one")]);
        assert_eq!(target(&r, "/one"), Some("one"));
        assert_eq!(target(&r, "/two"), Some("all"));
    }

    #[test]
    fn the_longest_wildcard_wins_regardless_of_order() {
        for routes in [
            [
                ("/one/...", "1"),
                ("/one/two/...", "2"),
                ("/one/two/three/...", "3"),
            ],
            [
                ("/one/two/three/...", "3"),
                ("/one/two/...", "2"),
                ("/one/...", "1"),
            ],
        ] {
            let r = router(&routes);
            assert_eq!(target(&r, "/one/two/three/four"), Some("3"));
            assert_eq!(target(&r, "/one/two/x"), Some("2"));
            assert_eq!(target(&r, "/one/x"), Some("1"));
        }
    }

    #[test]
    fn relative_routes_are_made_absolute() {
        let r = router(&[("a", "a")]);
        assert_eq!(target(&r, "/a"), Some("a"));
    }

    #[test]
    fn a_later_duplicate_wins_and_is_reported() {
        let (r, duplicates) = Router::build([
            ("/a".to_owned(), "first"),
            ("/a".to_owned(), "second"),
            ("/b/...".to_owned(), "first"),
            ("/b/...".to_owned(), "second"),
        ])
        .unwrap();
        assert_eq!(target(&r, "/a"), Some("second"));
        assert_eq!(target(&r, "/b/c"), Some("second"));
        assert_eq!(
            duplicates,
            vec![
                Duplicate { route: "/a".into() },
                Duplicate {
                    route: "/b/...".into()
                }
            ]
        );
    }

    #[test]
    fn parameters_and_inner_wildcards_are_refused() {
        for route in ["/users/:id", "/a/*/b", "/a/.../...", "/a*"] {
            assert_eq!(
                Router::build([(route.to_owned(), ())]).unwrap_err(),
                RouteError::Unsupported {
                    route: route.into()
                },
                "{route}"
            );
        }
    }
}
