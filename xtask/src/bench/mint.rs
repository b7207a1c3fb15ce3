//! RS256 on Workers: what a GitHub App JWT mint costs in WebCrypto, and what git-ops costs on
//! workerd with the installation token cached in the isolate vs minted and exchanged on every
//! request. (The native and WASI mints are ops of the core-cost part.)

use std::time::Instant;

use pulser_tests::stack::{GithubMode, Stack};

use super::{Part, Plan, spread};
use crate::tools::Tools;

/// `importKey("pkcs8")` + RS256 `sign` with the stack's app key, timed in Node 22: the same
/// Web Crypto API as workerd's, where a Worker's clock does not advance while it computes,
/// so the mint cannot be timed from inside one.
const WEBCRYPTO_SCRIPT: &str = r#"
const { createPrivateKey } = await import('node:crypto');
const pem = Buffer.from(process.env.KEY_B64, 'base64').toString();
const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
const msg = new TextEncoder().encode('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiIxIn0');
const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
const n = Number(process.env.N);
const t = [];
for (let i = 0; i < n + 5; i++) {
  const s = performance.now();
  const key = await crypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
  await crypto.subtle.sign(alg.name, key, msg);
  if (i >= 5) t.push(performance.now() - s);
}
t.sort((a, b) => a - b);
console.log(JSON.stringify({ p50: t[Math.floor(n / 2)], p99: t[Math.floor(n * 0.99)] }));
"#;

fn webcrypto_mint(tools: &Tools, key_base64: &str, n: usize) -> Result<(f64, f64), String> {
    let out = std::process::Command::new(tools.bin("node"))
        .args(["--input-type=module", "-e", WEBCRYPTO_SCRIPT])
        .env("KEY_B64", key_base64)
        .env("N", n.to_string())
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "WebCrypto timing failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("WebCrypto timing printed no JSON: {e}"))?;
    let get = |k: &str| {
        value
            .get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    Ok((get("p50"), get("p99")))
}

/// git-ops requests to the workerd-served Worker: (latency ms of each 202, tokens issued).
fn git_ops_on_workerd(stack: &Stack, requests: usize) -> (Vec<f64>, usize) {
    let worker = stack.workerd("git_ops_dispatch");
    let url = worker.url("/pulser/git-ops");
    let secret = stack.var("PULSER_WEBHOOK_SECRET");
    let secret = secret.split(',').next().unwrap_or_default().to_owned();
    let before = stack.github.tokens_issued();
    let mut samples = Vec::new();
    for n in 0..requests + 3 {
        let body = format!(
            r#"{{"message":"bench {n}","request_id":"mint-{}-{n}","timestamp":{}}}"#,
            super::clock_tag(),
            pulser_tests::clock::unix_now()
        );
        let signature = format!(
            "sha256={}",
            pulser_tests::hmac_hex(secret.as_bytes(), body.as_bytes())
        );
        let headers = [
            ("content-type", "application/json"),
            ("x-pulser-signature", signature.as_str()),
        ];
        let start = Instant::now();
        let answer = pulser_tests::try_request("POST", &url, &headers, body.as_bytes());
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        if n >= 3 && answer.is_ok_and(|a| a.status == 202) {
            samples.push(elapsed);
        }
    }
    (samples, stack.github.tokens_issued() - before)
}

/// Measures both.
///
/// # Errors
/// When Node cannot time the mint.
pub fn measure(tools: &Tools, stack: &Stack, plan: &Plan) -> Result<Part, String> {
    let n = if plan.smoke { 10 } else { 200 };
    let (mint_p50, mint_p99) =
        webcrypto_mint(tools, &stack.var("GITHUB_APP_PRIVATE_KEY_BASE64"), n)?;
    let requests = if plan.smoke { 5 } else { 100 };
    // Short-lived tokens: the Worker's fresh isolate never keeps one, so each request mints.
    stack.github.set_mode(GithubMode::ShortLivedTokens);
    let (mut minted, minted_tokens) = git_ops_on_workerd(stack, requests);
    stack.github.set_mode(GithubMode::Ok);
    let (mut cached, cached_tokens) = git_ops_on_workerd(stack, requests);
    let ok = (minted.len(), cached.len());
    let (_, minted_p50, minted_max) = spread(&mut minted);
    let (_, cached_p50, cached_max) = spread(&mut cached);
    let markdown = format!(
        "| Workers (workerd) | p50 ms | max ms | answered 202 | tokens issued |\n|---|---:|---:|---:|---:|\n\
         | WebCrypto importKey + RS256 sign alone (Node 22's Web Crypto, the stack's 2048-bit key; p99 {mint_p99:.2} ms) | {mint_p50:.2} | - | - | - |\n\
         | git-ops, installation token cached in the isolate | {cached_p50:.2} | {cached_max:.2} | {}/{requests} | {cached_tokens} |\n\
         | git-ops, app JWT minted + token exchanged per request | {minted_p50:.2} | {minted_max:.2} | {}/{requests} | {minted_tokens} |\n\n\
         Minting per request adds {:.2} ms at the median: the mint plus a local token exchange \
         with the stand-in (which verifies the JWT), an upper bound on the mint's CPU (the free \
         plan allows 10 ms of CPU per request).\n",
        ok.1,
        ok.0,
        minted_p50 - cached_p50
    );
    Ok(Part {
        key: "rs256_workers",
        title: "RS256 mint on Workers".to_owned(),
        json: serde_json::json!({
            "webcrypto_mint_ms": {"p50": mint_p50, "p99": mint_p99, "n": n},
            "git_ops_cached_ms": {"p50": cached_p50, "max": cached_max, "ok": ok.1, "tokens": cached_tokens},
            "git_ops_minted_ms": {"p50": minted_p50, "max": minted_max, "ok": ok.0, "tokens": minted_tokens},
        }),
        markdown,
    })
}
