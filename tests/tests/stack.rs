#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The local stack itself: migrations on a real PostgreSQL 15, real PostgREST with the minted
//! service_role key (anon denied by RLS), and the stand-ins enforcing their wire contracts.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use pulser_signing::github_app::GithubAppKey;
use pulser_tests::clock::unix_now;
use pulser_tests::stack::{self, GithubMode, OdooMode, Stack};
use pulser_tests::{hmac_hex, request, try_request};
use sha2::Sha256;

fn db_stack() -> Stack {
    Stack::builder().without_runtime().start()
}

#[test]
fn migrations_apply_and_are_recorded_once() {
    let stack = db_stack();
    let tables = stack.sql(
        "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'",
    );
    for table in ["audit_event", "oasis_events", "odoo_action_outbox"] {
        assert!(tables.contains(table), "{table} missing from {tables}");
    }
    let rls =
        stack.sql("select count(*) from pg_tables where schemaname = 'public' and not rowsecurity");
    assert_eq!(rls, "0", "every public table has RLS on");
    let versions = stack.sql("select count(*) from supabase_migrations.schema_migrations");
    let files = std::fs::read_dir(stack::project_root().join("supabase/migrations"))
        .unwrap()
        .count();
    assert_eq!(versions, files.to_string());
}

/// The bootstrap reproduces Supabase's default privileges (a new sequence in public is
/// granted to anon), and the migrations leave anon and authenticated no privilege at all on
/// any table, sequence or function of ours, but one: authenticated may select
/// oasis_events (the read side's RLS policy), and nothing else on it.
#[test]
fn anon_and_authenticated_hold_no_privilege_on_the_schema_objects() {
    let stack = db_stack();
    // The defaults are in force: the check below would see a leak.
    stack.sql("create sequence public.pulser_probe_seq");
    assert_eq!(
        stack.sql("select has_sequence_privilege('anon', 'public.pulser_probe_seq', 'UPDATE')"),
        "t"
    );
    stack.sql("drop sequence public.pulser_probe_seq");
    let leaks = stack.sql(
        "select string_agg(r.rolname || ' ' || o.kind || ' ' || o.name, ', ') from \
         (select 'sequence' as kind, c.oid::regclass::text as name, \
                 has_sequence_privilege(r.oid, c.oid, 'USAGE,SELECT,UPDATE') as any, r.rolname \
            from pg_class c join pg_namespace n on n.oid = c.relnamespace, pg_roles r \
           where n.nspname = 'public' and c.relkind = 'S' and r.rolname in ('anon', 'authenticated') \
          union all \
          select 'table', c.oid::regclass::text, \
                 has_table_privilege(r.oid, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER'), r.rolname \
            from pg_class c join pg_namespace n on n.oid = c.relnamespace, pg_roles r \
           where n.nspname = 'public' and c.relkind = 'r' and r.rolname in ('anon', 'authenticated') \
             and not (r.rolname = 'authenticated' and c.relname = 'oasis_events') \
          union all \
          select 'table', 'public.oasis_events (beyond select)', \
                 has_table_privilege('authenticated', 'public.oasis_events', 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER'), 'authenticated' \
          union all \
          select 'function', p.oid::regprocedure::text, has_function_privilege(r.oid, p.oid, 'EXECUTE'), r.rolname \
            from pg_proc p join pg_namespace n on n.oid = p.pronamespace, pg_roles r \
           where n.nspname = 'public' and r.rolname in ('anon', 'authenticated')) o \
         join pg_roles r on r.rolname = o.rolname where o.any",
    );
    assert_eq!(leaks, "", "anon/authenticated may use: {leaks}");
}

/// The read side's grants: authenticated selects oasis_events through its RLS policy (and
/// sees rows), anon does not, and the table is in the `supabase_realtime` publication that
/// Realtime's `postgres_changes` follow.
#[test]
fn authenticated_may_read_oasis_events_and_realtime_publishes_it() {
    let stack = db_stack();
    assert_eq!(
        stack.sql(
            "select has_table_privilege('authenticated', 'public.oasis_events', 'SELECT'), \
                    has_table_privilege('anon', 'public.oasis_events', 'SELECT')"
        ),
        "t|f"
    );
    assert_eq!(
        stack.sql(
            "select cmd || ' ' || array_to_string(roles, ',') from pg_policies \
              where tablename = 'oasis_events' and policyname = 'oasis_events_authenticated_read'"
        ),
        "SELECT authenticated"
    );
    assert_eq!(
        stack.sql(
            "select count(*) from pg_publication_tables \
              where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'oasis_events'"
        ),
        "1"
    );
    // Under RLS as authenticated, a row is visible.
    stack.sql(
        "insert into public.oasis_events (module, kind, status, title, delivery_id) \
         values ('WORKFLOW', 'workflow_run', 'success', 'visible', 'rls-probe')",
    );
    assert_eq!(
        stack.sql(
            "set role authenticated; \
             select count(*) from public.oasis_events where delivery_id = 'rls-probe'"
        ),
        "1"
    );
}

#[test]
fn postgrest_accepts_the_service_role_key_and_refuses_anon() {
    let stack = db_stack();
    let key = stack.var("SUPABASE_SERVICE_ROLE_KEY");
    let body = br#"{"source":"odoo","event_type":"stack.test","resource_id":"1","payload":{},"correlation_id":"6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11"}"#;
    let url = format!("{}/audit_event", stack.postgrest_url());
    let stored = request(
        "POST",
        &url,
        &[
            ("apikey", &key),
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
            ("prefer", "return=representation"),
        ],
        body,
    );
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    assert_eq!(stored.json()[0]["event_type"], "stack.test");

    let anon = request("POST", &url, &[("content-type", "application/json")], body);
    assert!(
        anon.status == 401 || anon.status == 403,
        "anon wrote: {}",
        anon.status
    );
    let anon_read = request("GET", &url, &[], b"");
    assert!(
        anon_read.status == 401 || anon_read.status == 403 || anon_read.body == b"[]",
        "anon read rows: {}",
        String::from_utf8_lossy(&anon_read.body)
    );
    assert_eq!(stack.sql("select count(*) from audit_event"), "1");
}

#[test]
fn postgrest_can_be_stopped_for_outage_tests() {
    let mut stack = db_stack();
    let url = stack.postgrest_url();
    stack.stop_postgrest();
    assert!(try_request("GET", &url, &[], b"").is_err());
}

/// The Standard Webhooks headers the pulser side sends beside `x-signature`: `webhook-id` is
/// the idempotency key `k-1`, signed with the stack's first secret now (computed here with
/// the hmac crate, not pulser-signing).
fn standard_headers(stack: &Stack, body: &[u8]) -> [(String, String); 4] {
    let now = unix_now().to_string();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(stack.var("ODOO_SIGNING_SECRET").as_bytes()).unwrap();
    mac.update(format!("k-1.{now}.").as_bytes());
    mac.update(body);
    let signature = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    [
        ("webhook-id".into(), "k-1".into()),
        ("webhook-timestamp".into(), now),
        ("webhook-signature".into(), signature),
        ("idempotency-key".into(), "k-1".into()),
    ]
}

fn odoo_call_with(
    stack: &Stack,
    body: &[u8],
    signature: &str,
    api_key: &str,
    standard: &[(String, String)],
) -> u16 {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-api-key", api_key),
        ("x-signature", signature),
        ("x-correlation-id", "c-1"),
    ];
    headers.extend(standard.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    request(
        "POST",
        &format!("{}/api/agent/apply", stack.odoo.base_url()),
        &headers,
        body,
    )
    .status
}

fn odoo_call(stack: &Stack, body: &[u8], signature: &str, api_key: &str) -> u16 {
    odoo_call_with(
        stack,
        body,
        signature,
        api_key,
        &standard_headers(stack, body),
    )
}

const ODOO_BODY: &[u8] =
    br#"{"action":"account.move.post","args":{"id":7},"correlation_id":"c-1","idempotency_key":"k-1"}"#;

#[test]
fn odoo_stand_in_accepts_a_correctly_signed_call() {
    let stack = db_stack();
    let secret = stack.var("ODOO_SIGNING_SECRET");
    let token = stack.var("ODOO_API_TOKEN");
    assert_eq!(
        odoo_call(
            &stack,
            ODOO_BODY,
            &hmac_hex(secret.as_bytes(), ODOO_BODY),
            &token
        ),
        200
    );
    assert_eq!(
        odoo_call(
            &stack,
            ODOO_BODY,
            &format!("sha256={}", hmac_hex(secret.as_bytes(), ODOO_BODY)),
            &token
        ),
        200
    );
    assert_eq!(stack.odoo.applied().len(), 2);
    // The same idempotency key twice: both answered 200, one effect.
    assert_eq!(stack.odoo.effects(), ["k-1"]);
}

#[test]
fn odoo_stand_in_rejects_a_wrong_signature_or_key() {
    let stack = db_stack();
    let secret = stack.var("ODOO_SIGNING_SECRET");
    let token = stack.var("ODOO_API_TOKEN");
    let good = hmac_hex(secret.as_bytes(), ODOO_BODY);
    assert_eq!(
        odoo_call(&stack, ODOO_BODY, &hmac_hex(b"other", ODOO_BODY), &token),
        401
    );
    assert_eq!(odoo_call(&stack, ODOO_BODY, &good, "wrong-key"), 401);
    assert_eq!(
        odoo_call(&stack, ODOO_BODY, &good.to_uppercase(), &token),
        401
    );
    let tampered = br#"{"action":"account.move.post","args":{"id":8},"correlation_id":"c-1","idempotency_key":"k-1"}"#;
    assert_eq!(odoo_call(&stack, tampered, &good, &token), 401);
    let extra = br#"{"action":"a","args":{},"correlation_id":"c-1","idempotency_key":"k-1","x":1}"#;
    assert_eq!(
        odoo_call(&stack, extra, &hmac_hex(secret.as_bytes(), extra), &token),
        400
    );
    // The seed's three-field body, without the key, is refused now.
    let seed = br#"{"action":"account.move.post","args":{"id":7},"correlation_id":"c-1"}"#;
    assert_eq!(
        odoo_call(&stack, seed, &hmac_hex(secret.as_bytes(), seed), &token),
        400
    );
    // Without Standard Webhooks headers, or with a key header that is not the body's.
    assert_eq!(odoo_call_with(&stack, ODOO_BODY, &good, &token, &[]), 401);
    let mut other_key = standard_headers(&stack, ODOO_BODY);
    other_key[3].1 = "k-2".into();
    assert_eq!(
        odoo_call_with(&stack, ODOO_BODY, &good, &token, &other_key),
        400
    );
    let mut stale = standard_headers(&stack, ODOO_BODY);
    stale[1].1 = (unix_now() - 301).to_string();
    assert_eq!(
        odoo_call_with(&stack, ODOO_BODY, &good, &token, &stale),
        401
    );
    assert!(stack.odoo.applied().is_empty());
    assert!(stack.odoo.effects().is_empty());
    assert_eq!(stack.odoo.calls().len(), 9);
}

#[test]
fn odoo_stand_in_fails_on_demand() {
    let stack = db_stack();
    let sig = hmac_hex(stack.var("ODOO_SIGNING_SECRET").as_bytes(), ODOO_BODY);
    let token = stack.var("ODOO_API_TOKEN");
    stack.odoo.set_mode(OdooMode::Fail(503));
    assert_eq!(odoo_call(&stack, ODOO_BODY, &sig, &token), 503);
    stack.odoo.set_mode(OdooMode::Drop);
    let url = format!("{}/api/agent/apply", stack.odoo.base_url());
    let standard = standard_headers(&stack, ODOO_BODY);
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-api-key", token.as_str()),
        ("x-signature", sig.as_str()),
        ("x-correlation-id", "c-1"),
    ];
    headers.extend(standard.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let dropped = try_request("POST", &url, &headers, ODOO_BODY);
    assert!(dropped.is_err(), "a dropped connection has no response");
    stack
        .odoo
        .set_mode(OdooMode::Slow(Duration::from_millis(300)));
    assert_eq!(odoo_call(&stack, ODOO_BODY, &sig, &token), 200);
}

fn app_key() -> GithubAppKey {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(db_stack_key())
        .unwrap();
    GithubAppKey::from_pem(std::str::from_utf8(&pem).unwrap()).unwrap()
}

fn db_stack_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(
        std::fs::read_to_string(
            stack::project_root().join("shared/signing/tests/data/github-app-test-key.pkcs1.pem"),
        )
        .unwrap(),
    )
}

const GITHUB_HEADERS: [(&str, &str); 3] = [
    ("accept", "application/vnd.github+json"),
    ("x-github-api-version", "2022-11-28"),
    ("user-agent", "pulser-edge-tests"),
];

/// The token scope git_ops_dispatch asks for, which the stand-in insists on.
const TOKEN_SCOPE: &[u8] = br#"{"repositories":["pulse-hub"],"permissions":{"contents":"write"}}"#;

fn exchange_token(stack: &Stack, jwt: &str) -> pulser_tests::Exchange {
    exchange_token_with(stack, jwt, TOKEN_SCOPE)
}

fn exchange_token_with(stack: &Stack, jwt: &str, body: &[u8]) -> pulser_tests::Exchange {
    let mut headers = GITHUB_HEADERS.to_vec();
    let auth = format!("Bearer {jwt}");
    headers.push(("authorization", &auth));
    headers.push(("content-type", "application/json"));
    request(
        "POST",
        &format!(
            "{}/app/installations/{}/access_tokens",
            stack.github.api_url(),
            stack::GITHUB_INSTALLATION_ID
        ),
        &headers,
        body,
    )
}

#[test]
fn github_stand_in_refuses_an_unscoped_token_request() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let jwt = app_key().mint_jwt(stack::GITHUB_APP_ID, now).unwrap();
    assert_eq!(exchange_token_with(&stack, &jwt, b"").status, 422);
    let wider =
        br#"{"repositories":["pulse-hub"],"permissions":{"contents":"write","issues":"write"}}"#;
    assert_eq!(exchange_token_with(&stack, &jwt, wider).status, 422);
    assert_eq!(exchange_token(&stack, &jwt).status, 201);
    assert_eq!(stack.github.tokens_issued(), 1);
}

fn dispatch(stack: &Stack, token: &str, body: &[u8]) -> pulser_tests::Exchange {
    let mut headers = GITHUB_HEADERS.to_vec();
    let auth = format!("Bearer {token}");
    headers.push(("authorization", &auth));
    headers.push(("content-type", "application/json"));
    request(
        "POST",
        &format!(
            "{}/repos/{}/{}/dispatches",
            stack.github.api_url(),
            stack::GITHUB_REPO_OWNER,
            stack::GITHUB_REPO_NAME
        ),
        &headers,
        body,
    )
}

#[test]
fn github_stand_in_issues_a_token_for_a_valid_app_jwt_and_accepts_a_dispatch() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let minted = exchange_token(
        &stack,
        &app_key().mint_jwt(stack::GITHUB_APP_ID, now).unwrap(),
    );
    assert_eq!(
        minted.status,
        201,
        "{}",
        String::from_utf8_lossy(&minted.body)
    );
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    assert!(minted.json()["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(minted.header("date").is_some_and(|d| d.ends_with(" GMT")));
    let sent = dispatch(
        &stack,
        &token,
        br#"{"event_type":"git-ops","client_payload":{"a":1}}"#,
    );
    assert_eq!(sent.status, 204, "{}", String::from_utf8_lossy(&sent.body));
    assert_eq!(stack.github.dispatches().len(), 1);
    assert_eq!(stack.github.tokens_issued(), 1);
    // The client id is an accepted issuer too.
    let by_client = exchange_token(
        &stack,
        &app_key().mint_jwt(stack::GITHUB_CLIENT_ID, now).unwrap(),
    );
    assert_eq!(by_client.status, 201);
}

#[test]
fn github_stand_in_rejects_jwts_outside_githubs_rules() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let key = app_key();
    assert_eq!(
        exchange_token(&stack, &key.mint_jwt("999", now).unwrap()).status,
        401,
        "wrong iss"
    );
    assert_eq!(
        exchange_token(
            &stack,
            &key.mint_jwt(stack::GITHUB_APP_ID, now + 3600).unwrap()
        )
        .status,
        401,
        "iat in the future"
    );
    assert_eq!(
        exchange_token(
            &stack,
            &key.mint_jwt(stack::GITHUB_APP_ID, now - 3600).unwrap()
        )
        .status,
        401,
        "expired"
    );
    let good = key.mint_jwt(stack::GITHUB_APP_ID, now).unwrap();
    let (signed, _) = good.rsplit_once('.').unwrap();
    assert_eq!(
        exchange_token(&stack, &format!("{signed}.AAAA")).status,
        401,
        "bad signature"
    );
    assert_eq!(exchange_token(&stack, "not-a-jwt").status, 401);
    assert_eq!(stack.github.tokens_issued(), 0);
}

#[test]
fn github_stand_in_requires_the_api_headers() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let jwt = app_key().mint_jwt(stack::GITHUB_APP_ID, now).unwrap();
    let url = format!(
        "{}/app/installations/{}/access_tokens",
        stack.github.api_url(),
        stack::GITHUB_INSTALLATION_ID
    );
    let auth = format!("Bearer {jwt}");
    let without_agent = request(
        "POST",
        &url,
        &[
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
            ("authorization", &auth),
        ],
        b"",
    );
    assert_eq!(without_agent.status, 403);
    let without_version = request(
        "POST",
        &url,
        &[
            ("accept", "application/vnd.github+json"),
            ("user-agent", "x"),
            ("authorization", &auth),
        ],
        b"",
    );
    assert_eq!(without_version.status, 400);
}

#[test]
fn github_stand_in_enforces_dispatch_limits_and_credentials() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let minted = exchange_token(
        &stack,
        &app_key().mint_jwt(stack::GITHUB_APP_ID, now).unwrap(),
    );
    let token = minted.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        dispatch(&stack, "ghs_unknown", br#"{"event_type":"git-ops"}"#).status,
        401
    );
    assert_eq!(
        dispatch(&stack, &token, br#"{"event_type":""}"#).status,
        422
    );
    let long = format!(r#"{{"event_type":"{}"}}"#, "e".repeat(101));
    assert_eq!(dispatch(&stack, &token, long.as_bytes()).status, 422);
    let eleven: String = (0..11)
        .map(|i| format!(r#""k{i}":1"#))
        .collect::<Vec<_>>()
        .join(",");
    let many = format!(r#"{{"event_type":"git-ops","client_payload":{{{eleven}}}}}"#);
    assert_eq!(dispatch(&stack, &token, many.as_bytes()).status, 422);
    let big = format!(
        r#"{{"event_type":"git-ops","client_payload":{{"v":"{}"}}}}"#,
        "x".repeat(64 * 1024)
    );
    assert_eq!(dispatch(&stack, &token, big.as_bytes()).status, 422);
    assert!(stack.github.dispatches().is_empty());
}

#[test]
fn github_stand_in_clock_skew_is_visible_in_date_and_recoverable() {
    let stack = db_stack();
    stack.github.set_mode(GithubMode::Skewed(-3600));
    let now = unix_now();
    let key = app_key();
    let rejected = exchange_token(
        &stack,
        &key.mint_jwt(stack::GITHUB_APP_ID, u64::try_from(now).unwrap())
            .unwrap(),
    );
    assert_eq!(rejected.status, 401);
    assert_eq!(
        rejected.header("date").unwrap(),
        pulser_tests::clock::http_date(now - 3600).as_str()
    );
    let recovered = exchange_token(
        &stack,
        &key.mint_jwt(stack::GITHUB_APP_ID, u64::try_from(now - 3600).unwrap())
            .unwrap(),
    );
    assert_eq!(recovered.status, 201);
}

#[test]
fn github_stand_in_fails_on_demand() {
    let stack = db_stack();
    let now = u64::try_from(unix_now()).unwrap();
    let jwt = app_key().mint_jwt(stack::GITHUB_APP_ID, now).unwrap();
    stack.github.set_mode(GithubMode::FailTokens(500));
    assert_eq!(exchange_token(&stack, &jwt).status, 500);
    stack.github.set_mode(GithubMode::Ok);
    let token = exchange_token(&stack, &jwt).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    stack.github.set_mode(GithubMode::FailDispatch(502));
    assert_eq!(
        dispatch(&stack, &token, br#"{"event_type":"git-ops"}"#).status,
        502
    );
}

/// Seed 003's phase-2 upgrade: an older oasis_events (here, one missing columns) gets what it
/// lacks, the migration runs twice without harm, and `module` admits the seed's other writers.
#[test]
fn the_seed_shape_migration_upgrades_an_older_oasis_events_and_reruns() {
    let stack = db_stack();
    stack.sql("alter table oasis_events drop column layer, drop column link, drop column meta");
    let migration = std::fs::read_to_string(
        stack::project_root()
            .join("supabase/migrations/20261202000100_oasis_events_seed_shape.sql"),
    )
    .unwrap();
    stack.sql(&migration);
    stack.sql(&migration);
    assert_eq!(
        stack.sql(
            "select string_agg(column_name, ',' order by column_name) from information_schema.columns \
             where table_schema = 'public' and table_name = 'oasis_events' \
               and column_name in ('layer', 'link', 'meta')"
        ),
        "layer,link,meta"
    );
    assert_eq!(
        stack.sql(
            "insert into oasis_events (module, kind, status, title, delivery_id) \
             values ('DEPLOY', 'deploy', 'success', 'OPS-DEPLOY-DONE', 'seed-deploy-1') returning source || ' ' || layer"
        ),
        "github.actions UNSET"
    );
    assert_eq!(
        stack.sql(
            "do $$ begin insert into oasis_events (module, kind, status, title, delivery_id) \
             values ('NOPE', 'x', 'success', 't', 'seed-nope'); raise exception 'admitted'; \
             exception when check_violation then null; end $$; select 'refused'"
        ),
        "refused"
    );
}
