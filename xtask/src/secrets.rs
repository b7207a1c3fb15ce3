//! The hard-coded-secret scan of `cargo xtask test`: every file git tracks, line by line,
//! against rules for credentials that must never be committed (private keys, GitHub, AWS and
//! Slack tokens, JWTs such as Supabase's service-role key, and long random values assigned to
//! a name like `secret` or `token`).
//!
//! A file that has to hold one (a test key) is named in [`ALLOW_LIST`] with the rule it may
//! break and why; nothing else is skipped, no directory, no file type. An entry whose file no
//! longer breaks that rule fails the scan too, so the list only ever names what is there.
//! Findings name file, line and rule, never the matched text.

use std::fmt;
use std::path::Path;
use std::process::Command;

use crate::Result;

/// The committed allow-list, at the workspace root: `<path> <rule> <reason>` per line.
pub const ALLOW_LIST: &str = ".secretscan-allow";

/// What a finding looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// A PEM private key header: `-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED ]PRIVATE KEY-----`.
    PrivateKey,
    /// A GitHub token: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` with 36 characters, `github_pat_`.
    GithubToken,
    /// An AWS access key id: `AKIA` or `ASIA` and 16 upper-case letters or digits.
    AwsAccessKey,
    /// A JWT of real length (three base64url segments, header and payload JSON objects), as
    /// Supabase's anon and service-role keys are.
    Jwt,
    /// A Slack token: `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxo-`, `xapp-`.
    SlackToken,
    /// A Slack incoming-webhook URL.
    SlackWebhook,
    /// `secret = "<long random>"`: a name containing secret, token, password, api_key, ...
    /// assigned (`=`, `:`, `:=`) a value of 20 or more random-looking characters.
    GenericSecret,
}

impl Rule {
    /// Every rule, in the order findings are reported on one line.
    pub const ALL: [Self; 7] = [
        Self::PrivateKey,
        Self::GithubToken,
        Self::AwsAccessKey,
        Self::Jwt,
        Self::SlackToken,
        Self::SlackWebhook,
        Self::GenericSecret,
    ];

    /// The rule's name in findings and in the allow-list.
    pub fn id(self) -> &'static str {
        match self {
            Self::PrivateKey => "private-key",
            Self::GithubToken => "github-token",
            Self::AwsAccessKey => "aws-access-key",
            Self::Jwt => "jwt",
            Self::SlackToken => "slack-token",
            Self::SlackWebhook => "slack-webhook",
            Self::GenericSecret => "generic-secret",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::PrivateKey => "a PEM private key",
            Self::GithubToken => "a GitHub token",
            Self::AwsAccessKey => "an AWS access key id",
            Self::Jwt => "a JWT (a Supabase key, a service-role token)",
            Self::SlackToken => "a Slack token",
            Self::SlackWebhook => "a Slack webhook URL",
            Self::GenericSecret => "a long random value assigned to a secret-like name",
        }
    }

    fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.id() == id)
    }

    fn matches(self, line: &str) -> bool {
        match self {
            Self::PrivateKey => has_private_key(line),
            Self::GithubToken => has_github_token(line),
            Self::AwsAccessKey => has_aws_access_key(line),
            Self::Jwt => has_jwt(line),
            Self::SlackToken => has_slack_token(line),
            Self::SlackWebhook => has_slack_webhook(line),
            Self::GenericSecret => has_generic_secret(line),
        }
    }
}

/// One rule broken on one line of one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, relative to the workspace root.
    pub path: String,
    /// 1-based.
    pub line: usize,
    pub rule: Rule,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} ({})",
            self.path,
            self.line,
            self.rule.id(),
            self.rule.describe()
        )
    }
}

/// The rules `line` breaks.
pub fn scan_line(line: &str) -> Vec<Rule> {
    Rule::ALL
        .into_iter()
        .filter(|rule| rule.matches(line))
        .collect()
}

/// Every (1-based line, rule) that `text` breaks.
pub fn scan_text(text: &str) -> Vec<(usize, Rule)> {
    text.lines()
        .enumerate()
        .flat_map(|(at, line)| scan_line(line).into_iter().map(move |rule| (at + 1, rule)))
        .collect()
}

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub path: String,
    pub rule: Rule,
    pub reason: String,
    /// Its line in the allow-list file.
    pub line: usize,
}

/// The parsed allow-list: which file may break which rule, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Allowed>);

impl AllowList {
    /// Parses `<path> <rule> <reason...>` lines; `#` starts a comment line.
    ///
    /// # Errors
    /// A line without a reason, or naming an unknown rule, by its line number.
    pub fn parse(text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for (at, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.splitn(3, char::is_whitespace);
            let (path, rule, reason) = (words.next(), words.next(), words.next());
            let (Some(path), Some(rule), Some(reason)) = (path, rule, reason.map(str::trim)) else {
                return Err(format!(
                    "{ALLOW_LIST}:{}: expected `<path> <rule> <reason>`",
                    at + 1
                ));
            };
            if reason.is_empty() {
                return Err(format!(
                    "{ALLOW_LIST}:{}: the entry gives no reason",
                    at + 1
                ));
            }
            let Some(rule) = Rule::from_id(rule) else {
                let known: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
                return Err(format!(
                    "{ALLOW_LIST}:{}: unknown rule `{rule}` (one of {})",
                    at + 1,
                    known.join(", ")
                ));
            };
            entries.push(Allowed {
                path: path.to_owned(),
                rule,
                reason: reason.to_owned(),
                line: at + 1,
            });
        }
        Ok(Self(entries))
    }

    fn allows(&self, finding: &Finding) -> bool {
        self.0
            .iter()
            .any(|e| e.path == finding.path && e.rule == finding.rule)
    }
}

/// What a scan found: the findings the allow-list does not cover, and the entries that
/// covered nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub unused: Vec<Allowed>,
}

impl Report {
    /// The failure message, naming every finding (`file:line: rule`) and every unused entry;
    /// `None` when the scan passed.
    pub fn failure(&self) -> Option<String> {
        if self.findings.is_empty() && self.unused.is_empty() {
            return None;
        }
        let mut out = String::from("secret scan failed:");
        for finding in &self.findings {
            out.push_str(&format!("\n  {finding}"));
        }
        for entry in &self.unused {
            out.push_str(&format!(
                "\n  {ALLOW_LIST}:{}: `{} {}` allows what the file no longer has: remove the entry",
                entry.line,
                entry.path,
                entry.rule.id()
            ));
        }
        if !self.findings.is_empty() {
            out.push_str(&format!(
                "\nMove a real secret out of the tree, and rotate it if it was ever committed \
                 or pushed. A test fixture that must hold one goes in {ALLOW_LIST} as \
                 `<path> <rule> <why>`."
            ));
        }
        Some(out)
    }
}

/// Scans `files` (path relative to the root, content) against every rule.
pub fn scan<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>, allow: &AllowList) -> Report {
    let mut all = Vec::new();
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        all.extend(scan_text(&text).into_iter().map(|(line, rule)| Finding {
            path: path.to_owned(),
            line,
            rule,
        }));
    }
    let unused = allow
        .0
        .iter()
        .filter(|e| !all.iter().any(|f| f.path == e.path && f.rule == e.rule))
        .cloned()
        .collect();
    let mut findings: Vec<Finding> = all.into_iter().filter(|f| !allow.allows(f)).collect();
    findings.sort();
    Report { findings, unused }
}

/// Scans every file `git ls-files` lists under `root` (a tracked file deleted from the work
/// tree is skipped), with the committed allow-list.
///
/// # Errors
/// The findings and unused allow-list entries, or why the scan could not run.
pub fn scan_tree(root: &Path) -> Result {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git ls-files failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut files = Vec::new();
    for path in listed.split('\0').filter(|p| !p.is_empty()) {
        match std::fs::read(root.join(path)) {
            Ok(bytes) => files.push((path, bytes)),
            // Deleted in the work tree and not committed yet: nothing to scan.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // A submodule is listed as its directory.
            Err(_) if root.join(path).is_dir() => {}
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    let allow = match std::fs::read_to_string(root.join(ALLOW_LIST)) {
        Ok(text) => AllowList::parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => AllowList::default(),
        Err(e) => return Err(format!("{ALLOW_LIST}: {e}")),
    };
    let report = scan(
        files.iter().map(|(path, bytes)| (*path, bytes.as_slice())),
        &allow,
    );
    match report.failure() {
        None => {
            eprintln!(
                "xtask: secret scan: {} tracked files clean ({} allow-listed)",
                files.len(),
                allow.0.len()
            );
            Ok(())
        }
        Some(message) => Err(message),
    }
}

// The rules. Each looks at one line; a match needs the token to start at a word boundary, so
// a longer identifier that merely contains a prefix is not one.

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// How many bytes from the start of `text` satisfy `pred`.
fn run(text: &str, pred: impl Fn(u8) -> bool) -> usize {
    text.bytes().take_while(|&b| pred(b)).count()
}

/// Whether the byte before `at` in `line` (if any) fails `pred`: `at` starts a token.
fn starts_token(line: &str, at: usize, pred: impl Fn(u8) -> bool) -> bool {
    line.get(..at)
        .and_then(|before| before.bytes().last())
        .is_none_or(|b| !pred(b))
}

/// The text after each occurrence of `prefix` that starts a token (as `pred` draws tokens).
fn after_prefix<'a>(
    line: &'a str,
    prefix: &'a str,
    pred: impl Fn(u8) -> bool + Copy + 'a,
) -> impl Iterator<Item = &'a str> + 'a {
    line.match_indices(prefix)
        .filter(move |(at, _)| starts_token(line, *at, pred))
        .filter_map(move |(at, _)| line.get(at + prefix.len()..))
}

fn has_private_key(line: &str) -> bool {
    const OPEN: &str = "-----BEGIN ";
    line.match_indices(OPEN).any(|(at, _)| {
        let Some(rest) = line.get(at + OPEN.len()..) else {
            return false;
        };
        let Some((label, _)) = rest.split_once("-----") else {
            return false;
        };
        label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
            && (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK"))
    })
}

fn has_github_token(line: &str) -> bool {
    let classic = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
        .into_iter()
        .any(|prefix| {
            after_prefix(line, prefix, is_base64url).any(|rest| run(rest, is_base62) >= 36)
        });
    classic
        || after_prefix(line, "github_pat_", is_base64url).any(|rest| run(rest, is_base64url) >= 60)
}

fn has_aws_access_key(line: &str) -> bool {
    ["AKIA", "ASIA"].into_iter().any(|prefix| {
        after_prefix(line, prefix, is_base62).any(|rest| {
            run(rest, |b| b.is_ascii_uppercase() || b.is_ascii_digit()) == 16
                && rest.as_bytes().get(16).is_none_or(|&b| !is_base62(b))
        })
    })
}

fn has_jwt(line: &str) -> bool {
    line.match_indices("eyJ")
        .filter(|(at, _)| starts_token(line, *at, is_base64url))
        .any(|(at, _)| {
            let Some(token) = line.get(at..) else {
                return false;
            };
            let header = run(token, is_base64url);
            let Some(rest) = token.get(header..).and_then(|r| r.strip_prefix('.')) else {
                return false;
            };
            let payload = run(rest, is_base64url);
            let Some(signature) = rest.get(payload..).and_then(|r| r.strip_prefix('.')) else {
                return false;
            };
            header >= 16
                && payload >= 16
                && rest.starts_with("eyJ")
                && run(signature, is_base64url) >= 32
        })
}

fn has_slack_token(line: &str) -> bool {
    [
        "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxo-", "xapp-",
    ]
    .into_iter()
    .any(|prefix| {
        after_prefix(line, prefix, is_base64url).any(|rest| {
            let len = run(rest, |b| b.is_ascii_alphanumeric() || b == b'-');
            len >= 20 && rest.bytes().take(len).any(|b| b.is_ascii_digit())
        })
    })
}

fn has_slack_webhook(line: &str) -> bool {
    line.match_indices("hooks.slack.com/services/")
        .any(|(at, m)| {
            line.get(at + m.len()..)
                .is_some_and(|rest| run(rest, |b| is_base64url(b) || b == b'/') >= 20)
        })
}

/// Names that say their value is a credential (matched in lower case, anywhere in the name).
const SECRET_NAMES: &[&str] = &[
    "secret",
    "token",
    "password",
    "passwd",
    "apikey",
    "api_key",
    "api-key",
    "private_key",
    "access_key",
    "credential",
];

fn is_name_byte(b: u8) -> bool {
    is_base64url(b) || b == b'.'
}

fn is_value_byte(b: u8) -> bool {
    is_base64url(b) || matches!(b, b'+' | b'/' | b'=' | b'.' | b'~')
}

fn has_generic_secret(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.iter().enumerate().any(|(at, &b)| {
        let next = bytes.get(at + 1).copied();
        let prev = at.checked_sub(1).and_then(|p| bytes.get(p)).copied();
        let op_len = match (b, next) {
            (b':', Some(b'=')) => 2,
            (b':', Some(b':')) | (b'=', Some(b'=' | b'>' | b'~')) => return false,
            (b'=' | b':', _) if matches!(prev, Some(b'=' | b'!' | b'<' | b'>' | b':')) => {
                return false;
            }
            (b'=' | b':', _) => 1,
            _ => return false,
        };
        let (Some(left), Some(right)) = (line.get(..at), line.get(at + op_len..)) else {
            return false;
        };
        secret_name(left) && random_value(right)
    })
}

/// Whether the name just before an assignment (`left` ends there) is secret-like: `secret`,
/// `"api_token"`, `DB_PASSWORD`.
fn secret_name(left: &str) -> bool {
    let left = left.trim_end();
    let left = left
        .strip_suffix('"')
        .or_else(|| left.strip_suffix('\''))
        .unwrap_or(left);
    let len = left.bytes().rev().take_while(|&b| is_name_byte(b)).count();
    let Some(name) = left.get(left.len() - len..) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    !name.is_empty() && SECRET_NAMES.iter().any(|word| name.contains(word))
}

/// Whether the value just after an assignment (`right` starts there) is a literal of 20 or
/// more random-looking characters: quoted, or bare up to the end of the word.
fn random_value(right: &str) -> bool {
    let right = right.trim_start();
    let (quote, body) = match right.bytes().next() {
        Some(q @ (b'"' | b'\'')) => (Some(q), right.get(1..).unwrap_or("")),
        _ => (None, right),
    };
    let len = run(body, is_value_byte);
    let Some(value) = body.get(..len) else {
        return false;
    };
    let closed = match quote {
        Some(q) => body.as_bytes().get(len) == Some(&q),
        None => body
            .as_bytes()
            .get(len)
            .is_none_or(|&b| b.is_ascii_whitespace() || matches!(b, b',' | b';')),
    };
    closed
        && value.len() >= 20
        && value.bytes().any(|b| b.is_ascii_digit())
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && entropy(value) >= 3.5
}

/// Shannon entropy of `text`'s bytes, in bits per byte: random base64 or hex of 20+
/// characters is above 3.5, words and repeated patterns are below.
fn entropy(text: &str) -> f64 {
    let mut counts = [0_u32; 256];
    for b in text.bytes() {
        if let Some(count) = counts.get_mut(usize::from(b)) {
            *count += 1;
        }
    }
    let len = f64::from(u32::try_from(text.len()).unwrap_or(u32::MAX));
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    //! The samples are put together at run time (a prefix and a random-looking body), so
    //! this file holds no literal the scan would flag and needs no allow-list entry.
    #![allow(clippy::indexing_slicing)]

    use super::*;

    const BODY: &str = "R4nd0mB1tsQ7xZkV2pLm9WcYt3HsJd8FgNa5EuKo6ViXb";

    fn rules(line: &str) -> Vec<Rule> {
        scan_line(line)
    }

    fn pem_header(label: &str) -> String {
        format!("{}BEGIN {label}-----", "-".repeat(5))
    }

    fn jwt(signature_len: usize) -> String {
        // {"alg":"HS256","typ":"JWT"} . {"iss":"supabase","role":"service_role"} . signature
        let header = ["eyJhbGciOiJIUzI1NiIs", "InR5cCI6IkpXVCJ9"].concat();
        let payload = ["eyJpc3MiOiJzdXBhYmFzZSIs", "InJvbGUiOiJzZXJ2aWNlX3JvbGUifQ"].concat();
        format!("{header}.{payload}.{}", &BODY[..signature_len])
    }

    #[test]
    fn a_pem_private_key_header_of_any_kind_is_caught() {
        for label in [
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        ] {
            let line = format!("    let key = \"{}\\nMIIE...\";", pem_header(label));
            assert_eq!(rules(&line), vec![Rule::PrivateKey], "{label}");
        }
    }

    #[test]
    fn a_public_key_or_a_key_named_in_prose_is_not_a_private_key() {
        assert!(rules(&pem_header("PUBLIC KEY")).is_empty());
        assert!(rules(&pem_header("CERTIFICATE")).is_empty());
        assert!(rules("GitHub hands out `BEGIN RSA PRIVATE KEY` (PKCS#1)").is_empty());
        assert!(rules(&format!("{}BEGIN {{kind}}PRIVATE KEY-----", "-".repeat(5))).is_empty());
    }

    #[test]
    fn github_tokens_of_every_kind_are_caught() {
        for prefix in ["ghp", "gho", "ghu", "ghs", "ghr"] {
            let line = format!("Authorization: Bearer {prefix}_{}", &BODY[..36]);
            assert_eq!(rules(&line), vec![Rule::GithubToken], "{prefix}");
        }
        let fine_grained = format!(
            "token = {}_pat_{}_{}",
            "github",
            &BODY[..22],
            BODY.repeat(2)
        );
        assert!(rules(&fine_grained).contains(&Rule::GithubToken));
    }

    #[test]
    fn short_test_tokens_and_longer_words_are_not_github_tokens() {
        assert!(rules(r#"{"token":"ghs_abc","expires_at":"2026-11-18T12:06:40Z"}"#).is_empty());
        assert!(rules(r#"format!("ghs_standin{:025}", n)"#).is_empty());
        assert!(rules(&format!("xghp_{}", &BODY[..36])).is_empty());
        assert!(rules(&format!("ghp_{}", &BODY[..35])).is_empty());
    }

    #[test]
    fn an_aws_access_key_id_is_caught_only_at_its_length() {
        let key = format!("AKIA{}", "IOSFODNN7EXAMPLE");
        assert_eq!(rules(&format!("key id: {key}")), vec![Rule::AwsAccessKey]);
        // Under a secret-like name it is a generic secret as well.
        assert!(rules(&format!("aws_access_key_id={key}")).contains(&Rule::AwsAccessKey));
        assert_eq!(
            rules(&format!("\"ASIA{}\"", "Y34FZKBOKMUTVV7A")),
            vec![Rule::AwsAccessKey]
        );
        assert!(rules(&format!("{key}X")).is_empty(), "17 characters");
        assert!(
            rules(&format!("XAKIA{}", "IOSFODNN7EXAMPLE")).is_empty(),
            "inside a word"
        );
    }

    #[test]
    fn a_jwt_of_real_length_is_caught_and_a_signing_input_is_not() {
        let key = jwt(43);
        assert_eq!(
            rules(&format!("SUPABASE_SERVICE_ROLE_KEY={key}")),
            vec![Rule::Jwt],
            "an HS256 key as Supabase issues them"
        );
        // Header and payload alone (what an RS256 bench signs), and a stub signature.
        let (unsigned, _) = key.rsplit_once('.').unwrap_or_else(|| unreachable!());
        assert!(rules(&format!("const msg = '{unsigned}';")).is_empty());
        assert!(rules(&jwt(8)).is_empty());
    }

    #[test]
    fn slack_tokens_and_webhooks_are_caught() {
        let bot = format!("xoxb-{}-{}-{}", "2048000000", "4096000000000", &BODY[..24]);
        assert_eq!(rules(&format!("SLACK_BOT={bot}")), vec![Rule::SlackToken]);
        let app = format!("xapp-1-{}-{}", "A0123456789", &BODY[..30]);
        assert_eq!(rules(&app), vec![Rule::SlackToken]);
        let hook = format!(
            "url: https://{}/services/T0000000/B0000000/{}",
            "hooks.slack.com",
            &BODY[..24]
        );
        assert_eq!(rules(&hook), vec![Rule::SlackWebhook]);
        assert!(rules("the xoxb- prefix marks a bot token").is_empty());
    }

    #[test]
    fn a_long_random_value_assigned_to_a_secret_name_is_caught() {
        let value = &BODY[..32];
        for line in [
            format!("secret = \"{value}\""),
            format!("let api_token = '{value}';"),
            format!("  \"client_secret\": \"{value}\","),
            format!("DB_PASSWORD={value}"),
            format!("webhookSecret := \"{value}\""),
            format!("password: {value}"),
        ] {
            assert_eq!(rules(&line), vec![Rule::GenericSecret], "{line}");
        }
    }

    #[test]
    fn placeholders_words_and_short_values_are_not_generic_secrets() {
        for line in [
            "secret = \"${{ secrets.PULSER_WEBHOOK_SECRET }}\"",
            "PULSER_WEBHOOK_SECRET: ${{ secrets.PULSER_WEBHOOK_SECRET }}",
            "let token = self.token(platform, false).await?;",
            "token: Option<String>,",
            "secret = \"a-test-secret-that-is-long-enough\"",
            "secret = \"whsec_short1\"",
            "password = \"aaaaaaaaaaaaaaaaaaaaaaaa1\"",
            "if secret == \"R4nd0mB1tsQ7xZkV2pLm9WcYt3Hs\" {",
            "SECRET_NAME=value_without_digits_but_long",
        ] {
            assert!(rules(line).is_empty(), "{line}: {:?}", rules(line));
        }
    }

    #[test]
    fn a_finding_names_the_file_the_line_and_the_rule() {
        let text = format!("fn main() {{}}\n// ghp_{}\n", &BODY[..36]);
        let report = scan([("src/main.rs", text.as_bytes())], &AllowList::default());
        let message = report.failure().unwrap_or_default();
        assert!(message.contains("src/main.rs:2: github-token"), "{message}");
        assert!(
            !message.contains(&BODY[..36]),
            "the secret itself is never printed"
        );
    }

    /// The committed test key, as the tree holds it.
    const TEST_KEY: &str = "shared/signing/tests/data/github-app-test-key.pkcs1.pem";

    fn workspace_file(path: &str) -> (String, Vec<u8>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bytes = std::fs::read(root.join(path)).unwrap_or_else(|e| unreachable!("{path}: {e}"));
        (path.to_owned(), bytes)
    }

    fn committed_allow_list() -> AllowList {
        let (_, bytes) = workspace_file(ALLOW_LIST);
        AllowList::parse(&String::from_utf8_lossy(&bytes)).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn the_test_fixture_key_is_caught_and_passes_only_through_the_allow_list() {
        let (path, bytes) = workspace_file(TEST_KEY);
        let bare = scan([(path.as_str(), bytes.as_slice())], &AllowList::default());
        assert_eq!(
            bare.findings,
            vec![Finding {
                path: path.clone(),
                line: 1,
                rule: Rule::PrivateKey
            }]
        );
        let allow = committed_allow_list();
        let allowed = scan([(path.as_str(), bytes.as_slice())], &allow);
        assert!(allowed.findings.is_empty(), "{:?}", allowed.findings);
    }

    #[test]
    fn an_entry_allows_one_rule_in_one_file_only() {
        let allow = AllowList::parse(&format!("{TEST_KEY} private-key test key\n"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        let key = format!("{}\n", pem_header("RSA PRIVATE KEY"));
        let token = format!("ghs_{}\n", &BODY[..36]);
        let report = scan(
            [
                (TEST_KEY, key.as_bytes()),
                ("elsewhere.pem", key.as_bytes()),
                (TEST_KEY, token.as_bytes()),
            ],
            &allow,
        );
        let found: Vec<(String, Rule)> = report
            .findings
            .iter()
            .map(|f| (f.path.clone(), f.rule))
            .collect();
        assert_eq!(
            found,
            vec![
                ("elsewhere.pem".to_owned(), Rule::PrivateKey),
                (TEST_KEY.to_owned(), Rule::GithubToken),
            ]
        );
    }

    #[test]
    fn an_entry_that_covers_nothing_fails_the_scan() {
        let allow = AllowList::parse("gone.pem private-key a key that was deleted\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let report = scan([("README.md", b"nothing here".as_slice())], &allow);
        assert!(report.findings.is_empty());
        let message = report.failure().unwrap_or_default();
        assert!(message.contains(".secretscan-allow:1"), "{message}");
        assert!(message.contains("gone.pem private-key"), "{message}");
    }

    #[test]
    fn allow_list_entries_need_a_known_rule_and_a_reason() {
        assert!(AllowList::parse("# comment\n\n").is_ok());
        let unknown = AllowList::parse("a.pem private_key because\n")
            .err()
            .unwrap_or_default();
        assert!(
            unknown.contains(":1: unknown rule `private_key`"),
            "{unknown}"
        );
        let bare = AllowList::parse("\na.pem private-key\n")
            .err()
            .unwrap_or_default();
        assert!(bare.contains(":2: expected"), "{bare}");
    }

    #[test]
    fn the_committed_tree_passes_the_scan() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        scan_tree(&root).unwrap_or_else(|e| unreachable!("{e}"));
    }
}
