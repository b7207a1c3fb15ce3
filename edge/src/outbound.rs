//! Where outbound hosts are checked: the `allowed_outbound_hosts` policy and the wasi:http
//! hook that applies it to every request a component sends. wasi:sockets stays closed (see
//! `host`), so this hook is the only way out of an instance.
//!
//! The policy has Spin's syntax, `scheme://host[:port]`:
//!
//! - scheme: a name (`https`) or `*`;
//! - host: a name or IP (`api.github.com`, `127.0.0.1`), `*.domain` for any subdomain, `*` for
//!   any host, or a CIDR range (`10.0.0.0/8`);
//! - port: a number, a range `8000..9000` (end excluded), or `*`; when left out, the scheme's
//!   well-known port (80 for http, 443 for https).
//!
//! `*://*:*` allows everything. An empty list (the default) allows nothing. Templates are
//! resolved before parsing (see `variables`).

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::log;
use crate::pool::Pool;

/// Why an `allowed_outbound_hosts` entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostPatternError {
    /// The entry does not have the `scheme://host[:port]` shape.
    #[error(
        "allowed_outbound_hosts entry {entry:?}: {reason} (expected scheme://host[:port], `*` wildcards allowed)"
    )]
    Malformed {
        /// The entry (after templates are resolved).
        entry: String,
        /// What is wrong.
        reason: String,
    },
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    /// `.domain`: any host ending with it.
    Subdomain(String),
    Exact(String),
    Cidr {
        network: IpAddr,
        prefix: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortMatch {
    Any,
    Port(u16),
    Range(Range<u16>),
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl HostPattern {
    /// Parses one entry.
    ///
    /// # Errors
    /// [`HostPatternError::Malformed`] saying which part is wrong.
    pub fn parse(entry: &str) -> Result<Self, HostPatternError> {
        let malformed = |reason: &str| HostPatternError::Malformed {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = entry.trim();
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(malformed(if trimmed == "*" {
                "no scheme; to allow everything write \"*://*:*\""
            } else {
                "no scheme (such as https:// or *://)"
            }));
        };
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(s.to_ascii_lowercase())
            }
            _ => return Err(malformed("the scheme must be letters or `*`")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = split_host_port(rest);
        let host = parse_host(host).map_err(|reason| malformed(&reason))?;
        let port = match port {
            None => {
                let default = scheme
                    .as_deref()
                    .and_then(well_known_port)
                    .ok_or_else(|| malformed("no port, and the scheme has no well-known port"))?;
                PortMatch::Port(default)
            }
            Some("*") => PortMatch::Any,
            Some(port) => match port.split_once("..") {
                Some((start, end)) => {
                    let start = start
                        .parse()
                        .map_err(|_| malformed("the port range start is not a number"))?;
                    let end = end
                        .parse()
                        .map_err(|_| malformed("the port range end is not a number"))?;
                    PortMatch::Range(start..end)
                }
                None => PortMatch::Port(
                    port.parse()
                        .map_err(|_| malformed("the port is not a number or `*`"))?,
                ),
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether this entry allows a request to `scheme://host[:port]`.
    #[must_use]
    pub fn allows(&self, destination: &Destination) -> bool {
        let scheme_ok = self
            .scheme
            .as_deref()
            .is_none_or(|s| s == destination.scheme);
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Subdomain(suffix) => destination.host.ends_with(suffix.as_str()),
            HostMatch::Exact(host) => *host == destination.host,
            HostMatch::Cidr { network, prefix } => destination
                .host
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_network(ip, *network, *prefix)),
        };
        let port = destination
            .port
            .or_else(|| well_known_port(&destination.scheme));
        let port_ok = match (&self.port, port) {
            (PortMatch::Any, _) => true,
            (PortMatch::Port(p), Some(port)) => *p == port,
            (PortMatch::Range(range), Some(port)) => range.contains(&port),
            (_, None) => false,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// `host:port` -> (host, Some(port)); `[::1]:80` and `host` handled too.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        return match authority.split_once("]:") {
            Some((host, port)) => (host.get(1..).unwrap_or(host), Some(port)),
            None => (
                authority.trim_start_matches('[').trim_end_matches(']'),
                None,
            ),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn parse_host(host: &str) -> Result<HostMatch, String> {
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if host == "*" {
        return Ok(HostMatch::Any);
    }
    if let Some((address, prefix)) = host.split_once('/') {
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| "a path is not allowed, and this is not a CIDR range".to_owned())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("the CIDR prefix must be 0..={max}"))?;
        return Ok(HostMatch::Cidr { network, prefix });
    }
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.is_empty() || domain.contains('*') {
            return Err("a wildcard is allowed only as the first label (*.example.com)".to_owned());
        }
        return Ok(HostMatch::Subdomain(format!(".{domain}")));
    }
    if host.contains('*') {
        return Err("a wildcard is allowed only as the first label (*.example.com)".to_owned());
    }
    Ok(HostMatch::Exact(host))
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            (u128::from(ip.to_bits()), u128::from(net.to_bits()), 32)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => (ip.to_bits(), net.to_bits(), 128),
        _ => return false,
    };
    let shift = width - u32::from(prefix);
    if shift >= 128 {
        return true;
    }
    (ip >> shift) == (network >> shift)
}

/// Where a component wants to send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Lower-case scheme (`https`).
    pub scheme: String,
    /// Lower-case host; an IPv6 address without its brackets.
    pub host: String,
    /// The explicit port, if the URI has one.
    pub port: Option<u16>,
}

impl Destination {
    /// The destination of an outbound request URI; `None` when it has no host.
    #[must_use]
    pub fn of(uri: &http::Uri) -> Option<Self> {
        Some(Self {
            scheme: uri.scheme_str().unwrap_or("https").to_ascii_lowercase(),
            host: uri
                .host()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: uri.port_u16(),
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}://{}:{port}", self.scheme, self.host),
            None => write!(f, "{}://{}", self.scheme, self.host),
        }
    }
}

/// A component's whole allow-list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

impl AllowedHosts {
    /// Parses resolved entries.
    ///
    /// # Errors
    /// The first malformed entry.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, HostPatternError> {
        let patterns = entries
            .into_iter()
            .map(HostPattern::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether any entry allows `destination`.
    #[must_use]
    pub fn allows(&self, destination: &Destination) -> bool {
        self.patterns.iter().any(|p| p.allows(destination))
    }
}

/// The wasi:http hook of one instance: sends a component's outbound requests if its allow-list
/// permits the destination; refuses them with `HttpRequestDenied` otherwise (the guest sees an
/// error, the host logs it).
pub struct Hook {
    component: Arc<str>,
    allowed_hosts: Arc<AllowedHosts>,
    pool: Arc<Pool>,
}

impl Hook {
    /// The hook for an instance of `component`, enforcing `allowed_hosts`; allowed requests
    /// go out on the process's shared connections ([`Pool::shared`]).
    #[must_use]
    pub fn new(component: Arc<str>, allowed_hosts: Arc<AllowedHosts>) -> Self {
        Self {
            component,
            allowed_hosts,
            pool: Pool::shared(),
        }
    }
}

/// A future reporting an error on the connection after the response head (wasi:http's shape).
type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;

/// What `send_request` returns: the response head and body, and the connection's future.
type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
        + Send,
>;

impl WasiHttpHooks for Hook {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        // Under wasi:http 0.2 this is a no-op future (it matters for 0.3 request bodies).
        drop(fut);
        let destination = Destination::of(request.uri());
        let allowed = destination
            .as_ref()
            .is_some_and(|d| self.allowed_hosts.allows(d));
        if !allowed {
            let shown = destination.map_or_else(|| "(no host)".to_owned(), |d| d.to_string());
            log::event(
                log::Level::Warn,
                "outbound request denied",
                &[
                    ("component", &self.component),
                    ("destination", &shown),
                    ("hint", "add it to allowed_outbound_hosts in spin.toml"),
                ],
            );
            // Keep accepting the body the guest may still be writing, so that what it sees
            // is the denial and not a broken body stream.
            let mut body = request.into_body();
            tokio::spawn(async move { while let Some(Ok(_frame)) = body.frame().await {} });
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(Arc::clone(&self.pool).send(request, options))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn allows(entries: &[&str], url: &str) -> bool {
        let uri: http::Uri = url.parse().unwrap();
        AllowedHosts::parse(entries.iter().copied())
            .unwrap()
            .allows(&Destination::of(&uri).unwrap())
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!allows(&[], "https://example.com/"));
    }

    #[test]
    fn an_exact_host_uses_the_schemes_default_port() {
        let list = ["https://api.github.com"];
        assert!(allows(&list, "https://api.github.com/app"));
        assert!(allows(&list, "https://api.github.com:443/app"));
        assert!(allows(&list, "https://API.GITHUB.COM/app"));
        assert!(!allows(&list, "https://api.github.com:8443/app"));
        assert!(!allows(&list, "http://api.github.com/app"));
        assert!(!allows(&list, "https://evil.github.com/app"));
        assert!(!allows(&list, "https://api.github.com.evil.io/"));
    }

    #[test]
    fn subdomain_wildcards() {
        let list = ["https://*.supabase.co"];
        assert!(allows(&list, "https://abc.supabase.co/rest/v1/x"));
        assert!(allows(&list, "https://a.b.supabase.co/"));
        assert!(!allows(&list, "https://supabase.co/"));
        assert!(!allows(&list, "https://abcsupabase.co/"));
        assert!(!allows(&list, "https://abc.supabase.co.evil.io/"));
    }

    #[test]
    fn port_wildcards_and_ranges() {
        assert!(allows(&["http://127.0.0.1:*"], "http://127.0.0.1:54321/x"));
        assert!(allows(&["http://127.0.0.1:*"], "http://127.0.0.1/x"));
        assert!(!allows(&["http://127.0.0.1:*"], "http://127.0.0.2:80/x"));
        assert!(!allows(&["http://127.0.0.1:*"], "https://127.0.0.1:443/x"));
        assert!(allows(
            &["http://localhost:8000..8002"],
            "http://localhost:8001/"
        ));
        assert!(!allows(
            &["http://localhost:8000..8002"],
            "http://localhost:8002/"
        ));
        assert!(allows(&["http://localhost:3000"], "http://localhost:3000/"));
        assert!(!allows(
            &["http://localhost:3000"],
            "http://localhost:3001/"
        ));
    }

    #[test]
    fn everything() {
        for url in [
            "https://example.com/",
            "http://10.1.2.3:9/",
            "http://[::1]:80/",
        ] {
            assert!(allows(&["*://*:*"], url), "{url}");
        }
    }

    #[test]
    fn any_scheme() {
        assert!(allows(
            &["*://example.com:8080"],
            "http://example.com:8080/"
        ));
        assert!(allows(
            &["*://example.com:8080"],
            "https://example.com:8080/"
        ));
    }

    #[test]
    fn cidr_ranges() {
        let list = ["http://10.0.0.0/8:*"];
        assert!(allows(&list, "http://10.20.30.40:1234/"));
        assert!(!allows(&list, "http://11.0.0.1:1234/"));
        assert!(!allows(&list, "http://ten.example:1234/"));
        assert!(allows(&["http://::1/128:*"], "http://[::1]:8080/"));
        assert!(allows(&["http://0.0.0.0/0:*"], "http://1.2.3.4/"));
    }

    #[test]
    fn ipv6_literals() {
        assert!(allows(&["http://[::1]:8080"], "http://[::1]:8080/"));
        assert!(!allows(&["http://[::1]:8080"], "http://[::1]:8081/"));
    }

    #[test]
    fn a_trailing_slash_is_accepted() {
        assert!(allows(&["https://example.com/"], "https://example.com/x"));
    }

    #[test]
    fn malformed_entries_are_refused_with_the_entry_named() {
        for entry in [
            "*",
            "example.com",
            "https://*example.com",
            "https://a.*.com",
            "https://example.com/path",
            "ftp://example.com",
            "http://example.com:port",
            "http://example.com:1..x",
            "ht-tp://example.com",
            "https://",
        ] {
            let err = HostPattern::parse(entry).unwrap_err();
            assert!(err.to_string().contains(&format!("{entry:?}")), "{err}");
        }
    }
}
