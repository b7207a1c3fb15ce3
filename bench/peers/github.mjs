/**
 * A benchmark peer, written for `cargo xtask bench`. It is NOT part of pulser-edge: nothing
 * builds, ships or deploys it. It exists so the bench can put our `github_webhook` next to
 * what a GitHub user would run instead, on the same machine, payloads and PostgREST.
 *
 * It is a plain `node:http` server on Node 22 that checks `X-Hub-Signature-256` with
 * `@octokit/webhooks` (`Webhooks#verify`). It then ports functions/github_webhook's
 * normalization (src/event.rs with the field types of its picker, src/vtid.rs, src/status.rs)
 * and its store (src/lib.rs): one row per delivery into `oasis_events` through PostgREST,
 * with the same idempotency. tests/tests/bench_peers.rs checks that both store the same rows
 * and give the same answers:
 *
 * - `POST` only (405), `application/json` only (415), at most GitHub's 25 MB (413);
 * - the signature is checked against every secret of the comma-separated
 *   `GITHUB_WEBHOOK_SECRET` before anything is parsed (401 otherwise); then
 *   `X-GitHub-Event` and `X-GitHub-Delivery` are required (400 naming the header);
 * - `ping` answers `{"pong": true, "zen": ...}`; `workflow_run`, `check_run`,
 *   `pull_request` and `push` become one row; any other event answers 202 `{"ignored": ...}`;
 * - `POST /oasis_events?on_conflict=body_sha256&select=id` with
 *   `Prefer: resolution=ignore-duplicates,return=representation`, keyed on the body's
 *   SHA-256 (`body_sha256`). A redelivery and the same body under a new GUID (an empty
 *   representation: the digest is the conflict target), and another body under a known GUID
 *   (a 409 from `delivery_id`'s unique constraint), answer 200 `{"duplicate": true, ...}` and
 *   write nothing.
 *
 * Where it cannot match ours, because it takes what @octokit/webhooks takes: `verify` signs
 * the body as a JS string, so a body that is not UTF-8 fails verification (401) where ours,
 * which signs raw bytes, verifies it and then refuses it as malformed (400); `verify` takes only
 * `sha256=<lowercase hex>`, where ours also takes bare or upper-case hex; and `verify` refuses an
 * empty body outright. A malformed signature is answered "does not match", with no reason.
 * JSON.parse takes the last of two equal keys (ours refuses a repeated key of interest) and
 * reads `1.0` as the integer 1.
 *
 * Settings, by the names our function reads: `PORT`, `GITHUB_WEBHOOK_SECRET`, `SUPABASE_URL`
 * or `SUPABASE_REST_URL`, `SUPABASE_SERVICE_ROLE_KEY`; and `PULSER_NODE_MODULES`, the tool
 * cache's node_modules that holds @octokit/webhooks (see below). It listens on 127.0.0.1 only.
 */

import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// @octokit/webhooks is installed in the tool cache (xtask/npm pins it), not beside this file.
// An ES module resolves a bare specifier from its own location only. NODE_PATH applies to
// require() alone (an `import` under it still fails with ERR_MODULE_NOT_FOUND), the working
// directory plays no part, and `--import` could help only by registering a resolve hook. So a
// require anchored in that node_modules resolves the package's entry (its exports map's
// "default" condition names the ESM bundle) and that file is imported by URL. Its own imports
// (@octokit/webhooks-methods) resolve beside it as usual.
const nodeModules = process.env.PULSER_NODE_MODULES;
if (!nodeModules) {
  throw new Error("PULSER_NODE_MODULES must name the node_modules holding @octokit/webhooks");
}
const requireFromCache = createRequire(join(nodeModules, "..", "package.json"));
const { Webhooks } = await import(
  pathToFileURL(requireFromCache.resolve("@octokit/webhooks")).href
);

const MAX_BODY_BYTES = 25 * 1024 * 1024;
const MAX_DELIVERY_ID_LEN = 128;
const POSTGREST_TIMEOUT_MS = 5_000;
const RETRY_AFTER_SECS = "5";
const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;

/** A refusal, answered as `{"error": code, "message": ..., ...details}`. */
class Refusal extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A required setting; unset and empty are both missing (500 naming it). */
function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Refusal(500, "missing_config", `the setting ${name} is not configured`, { name });
  }
  return value;
}

// ---- who may deliver: GitHub, with a secret of GITHUB_WEBHOOK_SECRET ------------------

let verifiers;

/** One `Webhooks` per secret: `Webhooks#verify` checks the instance's own secret only
 * (`additionalSecrets` serves `verifyAndReceive`, whose handlers cannot answer the request). */
function secrets() {
  const entries = setting("GITHUB_WEBHOOK_SECRET")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new Refusal(
      500,
      "invalid_config",
      "the setting GITHUB_WEBHOOK_SECRET is invalid: no secret configured",
      { name: "GITHUB_WEBHOOK_SECRET" },
    );
  }
  verifiers ??= entries.map((secret) => new Webhooks({ secret }));
  return verifiers;
}

async function verifySignature(headers, payload) {
  const signature = headers["x-hub-signature-256"];
  const unauthorized = (message) =>
    new Refusal(401, "unauthorized", message, { header: "x-hub-signature-256" });
  if (signature === undefined) throw unauthorized("missing header `x-hub-signature-256`");
  // Every secret is tried, as ours does; verify() throws on an empty payload.
  const matches = await Promise.all(
    secrets().map((webhooks) => webhooks.verify(payload, signature).catch(() => false)),
  );
  if (!matches.includes(true)) {
    throw unauthorized("signature in `x-hub-signature-256` does not match");
  }
}

// ---- the delivery's fields, with the types ours' picker requires ----------------------

const TEXT = "a string";
const UINT = "a non-negative integer";
const BOOL = "a boolean";

/** The fields ours reads (src/event.rs, SCHEMA), each optional; `null` counts as absent. */
const SCHEMA = {
  action: TEXT,
  repository: { full_name: TEXT },
  sender: { login: TEXT },
  zen: TEXT,
  workflow_run: {
    name: TEXT,
    run_number: UINT,
    event: TEXT,
    display_title: TEXT,
    status: TEXT,
    conclusion: TEXT,
    head_branch: TEXT,
    head_sha: TEXT,
    html_url: TEXT,
    head_commit: { message: TEXT },
  },
  workflow: { name: TEXT },
  check_run: {
    name: TEXT,
    status: TEXT,
    conclusion: TEXT,
    head_sha: TEXT,
    html_url: TEXT,
    check_suite: { head_branch: TEXT },
  },
  number: UINT,
  pull_request: {
    title: TEXT,
    html_url: TEXT,
    merged: BOOL,
    head: { ref: TEXT, sha: TEXT },
  },
  ref: TEXT,
  after: TEXT,
  compare: TEXT,
  head_commit: { message: TEXT },
  commits: [{ message: TEXT }],
};

function malformed(message, field) {
  return new Refusal(400, "malformed_payload", message, field ? { field } : {});
}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

/** Throws when a field of `schema` present in `value` has the wrong type. */
function check(value, schema, path) {
  for (const [name, expected] of Object.entries(schema)) {
    const item = value[name];
    if (item === undefined || item === null) continue;
    const wrong = (what) =>
      malformed(
        `the payload does not match its event: invalid type at \`${path}${name}\`: expected ${what}`,
      );
    if (expected === TEXT && typeof item !== "string") throw wrong(TEXT);
    if (expected === UINT && !(Number.isInteger(item) && item >= 0)) throw wrong(UINT);
    if (expected === BOOL && typeof item !== "boolean") throw wrong(BOOL);
    if (Array.isArray(expected)) {
      if (!Array.isArray(item)) throw wrong("an array");
      for (const element of item) {
        if (!isObject(element)) throw wrong("an array of objects");
        check(element, expected[0], `${path}${name}[].`);
      }
    } else if (typeof expected === "object") {
      if (!isObject(item)) throw wrong("an object");
      check(item, expected, `${path}${name}.`);
    }
  }
}

function parseDelivery(payload) {
  let body;
  try {
    body = JSON.parse(payload);
  } catch (error) {
    throw malformed(`the payload does not match its event: ${error.message}`);
  }
  if (!isObject(body)) {
    throw malformed("the payload does not match its event: a delivery is a JSON object");
  }
  check(body, SCHEMA, "");
  return body;
}

// ---- src/vtid.rs: the task id, e.g. DEV-CICDL-0031 ------------------------------------

// Upper-case ASCII letters, a dash, upper-case letters or digits, a dash, exactly 4 digits;
// bounded on both sides by anything but a letter, digit or `_` (Unicode-aware, as Rust's
// char::is_alphanumeric: Alphabetic or Numeric).
const VTID = /(?<![\p{Alphabetic}\p{N}_])([A-Z]+)-([A-Z0-9]+)-[0-9]{4}(?![\p{Alphabetic}\p{N}_])/u;
const UNSET = "UNSET";

/** The first VTID of the first candidate that names one, searched in order. */
function firstVtid(candidates) {
  for (const text of candidates) {
    if (typeof text !== "string") continue;
    const match = VTID.exec(text);
    if (match) return { id: match[0], layer: match[2] };
  }
  return null;
}

// ---- src/status.rs: the five oasis_events statuses ------------------------------------

function runStatus(status, conclusion) {
  if (status === "in_progress") return "in_progress";
  if (status !== "completed") return "queued";
  if (conclusion === "success" || conclusion === "neutral") return "success";
  if (["cancelled", "skipped", "stale"].includes(conclusion)) return "cancelled";
  return "failure";
}

function pullRequestStatus(action, merged) {
  if (action === "closed") return merged ? "success" : "cancelled";
  return "in_progress";
}

// ---- src/event.rs: one delivery, one row -----------------------------------------------

const MODULES = { workflow_run: "WORKFLOW", check_run: "CHECK", pull_request: "PR", push: "PUSH" };

const asciiUpper = (text) => text.replace(/[a-z]+/g, (letters) => letters.toUpperCase());

function normalize(kind, body, deliveryId) {
  const meta = {
    delivery_id: deliveryId,
    repository: body.repository?.full_name ?? null,
    sender: body.sender?.login ?? null,
  };
  const action = body.action ?? "";
  if (action !== "") meta.action = action;

  let found, status, verb, ref, link;
  switch (kind) {
    case "workflow_run": {
      const run = body.workflow_run;
      if (!isObject(run)) {
        throw malformed(
          "the payload lacks the field `workflow_run` its event carries",
          "workflow_run",
        );
      }
      const workflow = run.name ? run.name : body.workflow?.name;
      const pullRequestTitle = ["pull_request", "pull_request_target"].includes(run.event)
        ? run.display_title
        : null;
      meta.workflow = workflow ?? null;
      meta.workflow_name = workflow ?? null;
      meta.run_number = run.run_number ?? null;
      meta.head_sha = run.head_sha ?? null;
      meta.conclusion = run.conclusion ?? null;
      found = firstVtid([pullRequestTitle, run.head_branch, run.head_commit?.message]);
      status = runStatus(run.status, run.conclusion);
      [verb, ref, link] = [action, run.head_branch, run.html_url];
      break;
    }
    case "check_run": {
      const check = body.check_run;
      if (!isObject(check)) {
        throw malformed("the payload lacks the field `check_run` its event carries", "check_run");
      }
      const branch = check.check_suite?.head_branch;
      meta.check = check.name ?? null;
      meta.head_sha = check.head_sha ?? null;
      meta.conclusion = check.conclusion ?? null;
      found = firstVtid([branch]);
      status = runStatus(check.status, check.conclusion);
      [verb, ref, link] = [action, branch, check.html_url];
      break;
    }
    case "pull_request": {
      const pr = body.pull_request;
      if (!isObject(pr)) {
        throw malformed(
          "the payload lacks the field `pull_request` its event carries",
          "pull_request",
        );
      }
      const merged = pr.merged ?? false;
      const branch = pr.head?.ref;
      meta.number = body.number ?? null;
      meta.pr_number = body.number ?? null;
      meta.pr_title = pr.title ?? null;
      meta.merged = merged;
      meta.head_sha = pr.head?.sha ?? null;
      found = firstVtid([pr.title, branch]);
      status = pullRequestStatus(action, merged);
      verb = action === "closed" && merged ? "merged" : action;
      [ref, link] = [branch, pr.html_url];
      break;
    }
    case "push": {
      if (typeof body.ref !== "string") {
        throw malformed("the payload lacks the field `ref` its event carries", "ref");
      }
      const branch = body.ref.startsWith("refs/heads/")
        ? body.ref.slice("refs/heads/".length)
        : body.ref;
      const commits = body.commits ?? [];
      meta.head_sha = body.after ?? null;
      meta.commits = commits.length;
      const commitMessage = commits.map((c) => c.message).find((m) => firstVtid([m]) !== null);
      found = firstVtid([branch, body.head_commit?.message, commitMessage]);
      status = "success";
      [verb, ref, link] = ["pushed", branch, body.compare];
      break;
    }
  }
  const { id: vtid, layer } = found ?? { id: UNSET, layer: UNSET };
  const module = MODULES[kind];
  return {
    vtid,
    layer,
    module,
    source: "github.actions",
    kind,
    status,
    title: `${layer}-${module}-${asciiUpper(verb || "event")}`,
    ref: ref ?? null,
    link: link ?? null,
    meta,
    delivery_id: deliveryId,
  };
}

// ---- the store --------------------------------------------------------------------------

function restUrl() {
  const rest = process.env.SUPABASE_REST_URL ||
    `${setting("SUPABASE_URL").replace(/\/+$/, "")}/rest/v1`;
  return rest.replace(/\/+$/, "");
}

/** The new row's id, or `null` when the delivery was stored before. */
async function store(row, rest, key) {
  let answer;
  try {
    answer = await fetch(`${rest}/oasis_events?on_conflict=body_sha256&select=id`, {
      method: "POST",
      headers: {
        apikey: key,
        authorization: `Bearer ${key}`,
        accept: "application/json",
        "content-type": "application/json",
        prefer: "resolution=ignore-duplicates,return=representation",
      },
      body: JSON.stringify(row),
      signal: AbortSignal.timeout(POSTGREST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new Refusal(
      503,
      "store_outcome_unknown",
      `the database did not answer (${error.message}); the write may or may not have taken effect: ` +
        "repeat the same request, it takes effect once",
    );
  }
  const text = await answer.text();
  // The body's digest is the conflict target; a second body under a known GUID is a 409
  // from delivery_id's unique constraint: a delivery already stored too.
  if (answer.status === 409) return null;
  if (answer.status === 429 || answer.status >= 500) {
    throw new Refusal(
      503,
      "store_unavailable",
      `the database is unavailable (PostgREST answered ${answer.status}); nothing was stored`,
    );
  }
  let stored;
  try {
    stored = JSON.parse(text);
  } catch {
    stored = undefined;
  }
  if (!answer.ok) {
    const message = typeof stored?.message === "string"
      ? stored.message
      : `PostgREST answered ${answer.status}`;
    throw new Refusal(502, "store_rejected", `the database refused the request: ${message}`);
  }
  if (stored === undefined) {
    throw new Refusal(
      502,
      "store_rejected",
      "the database refused the request: PostgREST answered something not JSON",
    );
  }
  return Array.isArray(stored) ? (stored[0]?.id ?? null) : null;
}

// ---- the function -------------------------------------------------------------------------

function requiredHeader(headers, name) {
  const value = (headers[name] ?? "").trim();
  if (value === "") {
    throw new Refusal(400, "missing_header", `the ${name} header is required`, { header: name });
  }
  return value;
}

async function readBody(req) {
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) return null;
  const chunks = [];
  let length = 0;
  for await (const chunk of req) {
    length += chunk.length;
    if (length > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function receive(req, correlationId) {
  if (req.method !== "POST") {
    throw new Refusal(405, "method_not_allowed", "this endpoint accepts POST only");
  }
  const contentType = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (contentType !== "application/json") {
    throw new Refusal(415, "unsupported_media_type", "content-type must be application/json");
  }
  const raw = await readBody(req);
  if (raw === null) {
    throw new Refusal(413, "payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  const payload = raw.toString("utf8");

  // Only the secrets are read before the delivery is authenticated.
  await verifySignature(req.headers, payload);
  const rest = restUrl();
  const serviceRoleKey = setting("SUPABASE_SERVICE_ROLE_KEY");

  const event = requiredHeader(req.headers, "x-github-event");
  const delivery = requiredHeader(req.headers, "x-github-delivery");
  if (delivery.length > MAX_DELIVERY_ID_LEN) {
    throw new Refusal(400, "invalid_header", "the x-github-delivery header is not valid", {
      header: "x-github-delivery",
    });
  }
  if (event === "ping") return [200, { pong: true, zen: parseDelivery(payload).zen ?? "" }];
  // Events not stored are acknowledged unread, as ours does.
  if (!Object.hasOwn(MODULES, event)) {
    log("info", "github event ignored", { event, delivery_id: delivery });
    return [202, { ignored: event }];
  }
  const row = normalize(event, parseDelivery(payload), delivery);
  row.body_sha256 = createHash("sha256").update(raw).digest("hex");
  const id = await store(row, rest, serviceRoleKey);
  if (id === null) {
    log("info", "github redelivery deduplicated", {
      delivery_id: delivery,
      correlation_id: correlationId,
    });
    return [200, { duplicate: true, delivery_id: delivery }];
  }
  log("info", "github event stored", {
    event,
    delivery_id: delivery,
    correlation_id: correlationId,
  });
  return [201, { id, delivery_id: delivery, vtid: row.vtid, status: row.status, title: row.title }];
}

function log(level, message, fields) {
  console.log(JSON.stringify({ level, message, ...fields }));
}

const server = createServer(async (req, res) => {
  const sent = req.headers["x-correlation-id"];
  const correlationId = typeof sent === "string" && TOKEN.test(sent) ? sent : crypto.randomUUID();
  let status, body;
  const headers = { "content-type": "application/json", "x-correlation-id": correlationId };
  try {
    [status, body] = await receive(req, correlationId);
  } catch (error) {
    const refusal = error instanceof Refusal
      ? error
      : new Refusal(500, "internal_error", "the peer failed");
    if (!(error instanceof Refusal)) console.error(error);
    log(refusal.status >= 500 ? "error" : "info", "github_webhook peer refused a request", {
      code: refusal.code,
      detail: refusal.message,
      correlation_id: correlationId,
    });
    [status, body] = [refusal.status, {
      error: refusal.code,
      message: refusal.message,
      ...refusal.details,
    }];
    if (status === 405) headers.allow = "POST";
    if (status === 503) headers["retry-after"] = RETRY_AFTER_SECS;
  }
  res.writeHead(status, headers).end(JSON.stringify(body));
});

const port = Number(process.env.PORT ?? 8000);
server.listen(port, "127.0.0.1", () => console.error(`github peer listening on 127.0.0.1:${port}`));
