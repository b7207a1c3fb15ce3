//! The drain on a Workers Cron Trigger (`[env.push_to_odoo.triggers] crons` in
//! wrangler.toml): the drain of `POST /push_to_odoo/drain`, started by the runtime's
//! scheduler instead of a caller.

use pulser_runtime::pipeline::{self, Error};
use pulser_runtime::{Platform, reply};

use crate::error::PushError;

/// One scheduled drain. The scheduler is the runtime itself, so there is no caller and no
/// bearer to check (`PUSH_WEBHOOK_TOKEN` is not read), and nothing runs but the drain. Nobody
/// receives an answer, so the outcome is what the HTTP drain logs: a line per row, and for a
/// drain that fails the line a refused drain request gets (same level, code and message)
/// under a fresh correlation id.
pub async fn drain_on_schedule(platform: &impl Platform) {
    if let Err(refusal) = crate::drain(platform).await {
        pipeline::log_failure(
            platform,
            "push_to_odoo's scheduled drain failed",
            &reply::uuid_v4(platform),
            &Error::<PushError>::Common(refusal),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use pulser_runtime::OutboundError;
    use pulser_runtime::testing::{FakePlatform, block_on};
    use serde_json::{Value, json};

    use super::drain_on_schedule;

    const NOW: u64 = 1_795_428_000; // 2026-11-23T10:00:00Z

    /// Every setting the drain reads, and no `PUSH_WEBHOOK_TOKEN`: a scheduled drain has no
    /// bearer to check.
    fn platform() -> FakePlatform {
        FakePlatform::new(NOW)
            .with_config("EDGE_HMAC_SECRET", "inbound-secret-0123")
            .with_config("ODOO_SIGNING_SECRET", "sign-secret-012345")
            .with_config("ODOO_BASE_URL", "http://odoo.test")
            .with_config("ODOO_API_TOKEN", "odoo-token")
            .with_config("SUPABASE_URL", "http://supabase.test")
            .with_config("SUPABASE_SERVICE_ROLE_KEY", "service-role-key")
    }

    fn logs(p: &FakePlatform) -> Vec<Value> {
        p.logs()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn a_scheduled_drain_pushes_due_rows_without_a_bearer() {
        let p = platform()
            .reply(200, r#"[{"id":7,"status":"queued","attempts":0}]"#)
            .reply(
                200,
                &json!([{"id": 7, "action": "account.move.post", "args": {"id": 42},
                    "attempts": 0, "correlation_id": "6f1c1f64-0c5b-4d8e-9a57-0a5b7d1d1a11",
                    "idempotency_key": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}])
                .to_string(),
            )
            .reply(200, "{}")
            .reply(200, r#"[{"id":7}]"#);
        let () = block_on(drain_on_schedule(&p));
        let sent = p.sent();
        let urls: Vec<String> = sent
            .iter()
            .map(pulser_runtime::testing::Sent::url)
            .collect();
        assert_eq!(urls.len(), 4, "list, claim, Odoo, outcome: {urls:?}");
        assert!(urls[0].contains("/odoo_action_outbox?select="), "{urls:?}");
        assert_eq!(urls[2], "http://odoo.test/api/agent/apply");
        assert_eq!(p.unused_replies(), 0);
        let logs = logs(&p);
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(
            (&logs[0]["msg"], &logs[0]["id"], &logs[0]["status"]),
            (&json!("outbox row handled"), &json!("7"), &json!("applied"))
        );
    }

    #[test]
    fn a_scheduled_drain_with_nothing_due_sends_one_listing_and_logs_nothing() {
        let p = platform().reply(200, "[]");
        let () = block_on(drain_on_schedule(&p));
        assert_eq!(p.sent().len(), 1);
        assert!(p.logs().is_empty(), "{:?}", p.logs());
    }

    /// The line of a failed scheduled drain is the line of a refused drain request: the same
    /// level, code and message, only its own `msg` and correlation id.
    #[test]
    fn a_failed_scheduled_drain_logs_what_a_refused_drain_request_logs() {
        let down = || platform().fail(OutboundError::Connection("refused".into()));
        let scheduled = down();
        let () = block_on(drain_on_schedule(&scheduled));
        let requested = down().with_config("PUSH_WEBHOOK_TOKEN", "webhook-token");
        let request = http::Request::post("/push_to_odoo/drain")
            .header("authorization", "Bearer webhook-token")
            .body(Vec::new())
            .unwrap();
        let response = block_on(crate::handle(request, &requested));
        assert_eq!(response.status().as_u16(), 503);

        let (scheduled, requested) = (logs(&scheduled), logs(&requested));
        assert_eq!((scheduled.len(), requested.len()), (1, 1));
        let (line, refused) = (&scheduled[0], &requested[0]);
        assert_eq!(line["msg"], "push_to_odoo's scheduled drain failed");
        for field in ["level", "error", "message"] {
            assert_eq!(line[field], refused[field], "{field}");
        }
        assert_eq!(line["error"], "store_unavailable");
        assert!(
            pulser_runtime::reply::is_uuid(line["correlation_id"].as_str().unwrap()),
            "{line}"
        );
    }

    #[test]
    fn a_scheduled_drain_missing_a_setting_names_it_and_sends_nothing() {
        let p = FakePlatform::new(NOW)
            .with_config("EDGE_HMAC_SECRET", "inbound-secret-0123")
            .with_config("ODOO_SIGNING_SECRET", "sign-secret-012345");
        let () = block_on(drain_on_schedule(&p));
        assert!(p.sent().is_empty());
        let logs = logs(&p);
        assert_eq!(
            (&logs[0]["level"], &logs[0]["error"]),
            (&json!("error"), &json!("missing_config"))
        );
        assert!(
            logs[0]["message"]
                .as_str()
                .unwrap()
                .contains("ODOO_BASE_URL"),
            "{}",
            logs[0]
        );
    }
}
