/**
 * A benchmark peer, written for `cargo xtask bench`. It is NOT part of pulser-edge: nothing
 * builds, ships or deploys it. It exists so the bench can put our `odoo_event_ingest` next to
 * what a Supabase user would run instead, on the same machine, payloads and PostgREST.
 *
 * It follows the seeds' own design: a Supabase Edge Function in TypeScript on Deno
 * (`Deno.serve`) that verifies `x-signature` with WebCrypto HMAC-SHA256 over the raw body and
 * inserts into `audit_event` through PostgREST. It ports the main path of
 * functions/odoo_event_ingest (src/lib.rs, auth.rs, event.rs, audit.rs, timestamp.rs), so
 * both store the same rows and give the same answers. tests/tests/bench_peers.rs checks
 * that they do:
 *
 * - `POST` only (405), `application/json` only (415), at most 1 MiB (413);
 * - `x-signature`: the hex HMAC-SHA256 of the raw body (either case, optionally prefixed
 *   `sha256=`), tried against every secret of the comma-separated `EDGE_HMAC_SECRET` before
 *   the body is parsed (401 otherwise);
 * - one event or an array of up to 500, checked field by field (422 naming the field and,
 *   in a batch, the index); an event without `event_id` is keyed
 *   `sha256:<hex SHA-256 of the body>:<index>`, so a retry of the same bytes repeats its key;
 * - one insert, `POST /audit_event?on_conflict=source,event_id&select=id,event_id` with
 *   `Prefer: resolution=ignore-duplicates,return=representation` (the request supabase-js's
 *   `.upsert(rows, { onConflict, ignoreDuplicates: true }).select()` sends, written out
 *   because the peer takes no remote import). Only the first event of each key is sent, and a
 *   key stored before writes nothing and is answered `{"duplicate": true, ...}`;
 * - 201 `{id, correlation_id}` (an array for a batch), 200 when every event was a repeat;
 *   every answer carries `x-correlation-id`.
 *
 * Not ported, because the bench never sends them: the Standard Webhooks headers (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`), the Realtime broadcast (`REALTIME_CHANNEL`),
 * `whsec_` secrets and the 16-byte minimum secret length.
 *
 * Settings, by the names our function reads: `PORT` (Deno's default 8000 when unset),
 * `EDGE_HMAC_SECRET`, `SUPABASE_URL` or `SUPABASE_REST_URL`, `SUPABASE_SERVICE_ROLE_KEY`. It uses
 * Deno built-ins only, so `deno run --allow-net=... --allow-env=...` starts it offline. It
 * listens on 127.0.0.1 only.
 */

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_BATCH = 500;
/** Longest `event_type` and `event_id`, in characters (code points). */
const MAX_TEXT_CHARS = 200;
/** 9999-12-31T23:59:59Z. */
const MAX_UNIX_SECONDS = 253_402_300_799;
/** Prefixes of derived keys, which an explicit `event_id` may not take. */
const RESERVED_PREFIXES = ["webhook:", "sha256:"];
const SOURCE = "odoo";
const POSTGREST_TIMEOUT_MS = 10_000;
const RETRY_AFTER_SECS = "5";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface AuditRow {
  source: string;
  event_type: string;
  resource_id: string;
  payload: JsonObject;
  correlation_id: string;
  /** `null` until the request's derived key is known. */
  event_id: string | null;
  occurred_at: string | null;
}

/** A refusal, answered as `{"error": code, "message": ..., ...details}`. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, string | number> = {},
  ) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function refusalResponse(refusal: Refusal): Response {
  const headers: Record<string, string> = {};
  if (refusal.status === 405) headers["allow"] = "POST";
  if (refusal.status === 503) headers["retry-after"] = RETRY_AFTER_SECS;
  return json(
    refusal.status,
    { error: refusal.code, message: refusal.message, ...refusal.details },
    headers,
  );
}

/** A required setting; unset and empty are both missing (500 naming it). */
function setting(name: string): string {
  const value = Deno.env.get(name);
  if (!value) {
    throw new Refusal(500, "missing_config", `the setting ${name} is not configured`, { name });
  }
  return value;
}

// ---- who may send: the secrets of EDGE_HMAC_SECRET ------------------------------------

let hmacKeys: Promise<CryptoKey[]> | undefined;

/** The HMAC keys of `EDGE_HMAC_SECRET`, imported once. */
function secrets(): Promise<CryptoKey[]> {
  const entries = setting("EDGE_HMAC_SECRET")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new Refusal(
      500,
      "invalid_config",
      "the setting EDGE_HMAC_SECRET is invalid: no secret configured",
      { name: "EDGE_HMAC_SECRET" },
    );
  }
  hmacKeys ??= Promise.all(
    entries.map((secret) =>
      crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      )
    ),
  );
  return hmacKeys;
}

function unauthorized(message: string): Refusal {
  return new Refusal(401, "unauthorized", message, { header: "x-signature" });
}

/** `x-signature` against every key; WebCrypto's `verify` compares in constant time. */
async function verifySignature(
  headers: Headers,
  body: Uint8Array<ArrayBuffer>,
  keys: CryptoKey[],
) {
  const sent = headers.get("x-signature");
  if (sent === null) throw unauthorized("missing header `x-signature`");
  const value = sent.trim();
  const digits = value.startsWith("sha256=") ? value.slice("sha256=".length) : value;
  if (digits === "") throw unauthorized("malformed header `x-signature`: empty signature");
  if (!/^[0-9a-fA-F]{64}$/.test(digits)) {
    throw unauthorized(
      "malformed header `x-signature`: expected 64 hex digits of HMAC-SHA256",
    );
  }
  const signature = Uint8Array.fromHex(digits.toLowerCase());
  const matches = await Promise.all(
    keys.map((key) => crypto.subtle.verify("HMAC", key, signature, body)),
  );
  if (!matches.includes(true)) throw unauthorized("signature in `x-signature` does not match");
}

// ---- the events -----------------------------------------------------------------------

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** What a caller may choose as `x-correlation-id`. */
const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;
const NO_NUL = "free of NUL characters (PostgreSQL cannot store them)";
const OCCURRED_AT = "an RFC 3339 timestamp (a time without offset is UTC) or unix seconds";

function invalidEvent(index: number | null, field: string, message: string): Refusal {
  const details: Record<string, string | number> = { field };
  if (index !== null) details.index = index;
  const prefix = index === null ? "" : `event ${index}: `;
  return new Refusal(422, "invalid_event", prefix + message, details);
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function chars(text: string): number {
  return [...text].length;
}

/** A non-empty string of at most `max` characters, or an integer, as text. */
function idText(value: Json, max: number): string | null {
  if (typeof value === "string") return value !== "" && chars(value) <= max ? value : null;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  return null;
}

function holdsNul(value: Json): boolean {
  if (typeof value === "string") return value.includes("\0");
  if (Array.isArray(value)) return value.some(holdsNul);
  if (isObject(value)) {
    return Object.entries(value).some(([key, item]) => key.includes("\0") || holdsNul(item));
  }
  return false;
}

function daysInMonth(year: number, month: number): number {
  if ([4, 6, 9, 11].includes(month)) return 30;
  if (month !== 2) return 31;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?$/;

/**
 * `YYYY-MM-DD(T| )HH:MM:SS[.fraction][Z|±HH:MM]` as RFC 3339; no offset is UTC, as Odoo
 * writes its `Datetime` fields. `null` for anything else, impossible dates included.
 */
function normalizeTimestamp(text: string): string | null {
  const match = TIMESTAMP.exec(text);
  if (!match) return null;
  const [, year, month, day, hour, minute, second, fraction = "", zone = "Z"] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number);
  const valid = y >= 1 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) &&
    h <= 23 && mi <= 59 && s <= 59;
  if (!valid) return null;
  const offset = zone.toUpperCase() === "Z" ? "Z" : zone;
  // PostgreSQL's timestamptz takes offsets up to ±15:59.
  if (offset !== "Z" && (Number(offset.slice(1, 3)) > 15 || Number(offset.slice(4)) > 59)) {
    return null;
  }
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${offset}`;
}

/** One event, checked in the order ours checks its fields. */
function parseEvent(item: Json, index: number | null, defaultCorrelation: string): AuditRow {
  if (!isObject(item)) throw invalidEvent(index ?? 0, "event", "must be a JSON object");
  const field = (name: string): Json | undefined => item[name] ?? undefined;
  const required = (name: string): Json => {
    const value = field(name);
    if (value === undefined) throw invalidEvent(index, name, `\`${name}\` is required`);
    return value;
  };
  const invalid = (name: string, expected: string) =>
    invalidEvent(index, name, `\`${name}\` must be ${expected}`);

  const eventType = required("event_type");
  if (typeof eventType !== "string" || eventType === "" || chars(eventType) > MAX_TEXT_CHARS) {
    throw invalid("event_type", "a non-empty string of at most 200 characters");
  }
  const resourceId = idText(required("resource_id"), Infinity);
  if (resourceId === null) throw invalid("resource_id", "a non-empty string or an integer");
  const payload = required("payload");
  if (!isObject(payload)) throw invalid("payload", "a JSON object");
  if (eventType.includes("\0")) throw invalid("event_type", NO_NUL);
  if (resourceId.includes("\0")) throw invalid("resource_id", NO_NUL);
  if (holdsNul(payload)) throw invalid("payload", NO_NUL);

  const correlation = field("correlation_id");
  let correlationId = defaultCorrelation;
  if (correlation !== undefined) {
    if (typeof correlation !== "string" || !UUID.test(correlation)) {
      throw invalid("correlation_id", "a UUID");
    }
    correlationId = correlation.toLowerCase();
  }

  const explicitId = field("event_id");
  let eventId: string | null = null;
  if (explicitId !== undefined) {
    eventId = idText(explicitId, MAX_TEXT_CHARS);
    if (eventId === null) {
      throw invalid("event_id", "a non-empty string of at most 200 characters or an integer");
    }
    const id = eventId;
    if (RESERVED_PREFIXES.some((prefix) => id.startsWith(prefix))) {
      throw invalidEvent(
        index,
        "event_id",
        "`event_id` must not start with `webhook:` or `sha256:`: those prefixes are reserved " +
          "for the ids derived from `webhook-id` and from the body's SHA-256 when an event " +
          "has no `event_id`",
      );
    }
    if (id.includes("\0")) throw invalid("event_id", NO_NUL);
  }

  const occurred = field("occurred_at");
  let occurredAt: string | null = null;
  if (typeof occurred === "string") {
    occurredAt = normalizeTimestamp(occurred);
    if (occurredAt === null) throw invalid("occurred_at", OCCURRED_AT);
  } else if (typeof occurred === "number") {
    if (!Number.isInteger(occurred) || occurred < 0 || occurred > MAX_UNIX_SECONDS) {
      throw invalid("occurred_at", OCCURRED_AT);
    }
    occurredAt = new Date(occurred * 1000).toISOString().replace(".000Z", "Z");
  } else if (occurred !== undefined) {
    throw invalid("occurred_at", OCCURRED_AT);
  }

  return {
    source: SOURCE,
    event_type: eventType,
    resource_id: resourceId,
    payload,
    correlation_id: correlationId,
    event_id: eventId,
    occurred_at: occurredAt,
  };
}

function bodyProblem(message: string): Refusal {
  return new Refusal(422, "invalid_event", message, { field: "body" });
}

/** The body as rows: one event, or a batch of 1 to 500. */
function parseEvents(body: Json, defaultCorrelation: string): { batch: boolean; rows: AuditRow[] } {
  if (isObject(body)) return { batch: false, rows: [parseEvent(body, null, defaultCorrelation)] };
  if (!Array.isArray(body)) throw bodyProblem("body must be an event object or an array of events");
  if (body.length === 0) throw bodyProblem("body is an empty array");
  if (body.length > MAX_BATCH) {
    throw bodyProblem(`body holds ${body.length} events; at most ${MAX_BATCH} are accepted`);
  }
  return {
    batch: true,
    rows: body.map((item, index) => parseEvent(item, index, defaultCorrelation)),
  };
}

// ---- the store ------------------------------------------------------------------------

function restUrl(): string {
  const rest = Deno.env.get("SUPABASE_REST_URL") ||
    `${setting("SUPABASE_URL").replace(/\/+$/, "")}/rest/v1`;
  return rest.replace(/\/+$/, "");
}

/** Inserts the first row of each key; returns the new ids by key. */
async function insert(rows: AuditRow[], rest: string, key: string): Promise<Map<string, number>> {
  let answer: Response;
  try {
    answer = await fetch(
      `${rest}/audit_event?on_conflict=source%2Cevent_id&select=id%2Cevent_id`,
      {
        method: "POST",
        headers: {
          apikey: key,
          authorization: `Bearer ${key}`,
          accept: "application/json",
          "content-type": "application/json",
          prefer: "resolution=ignore-duplicates,return=representation",
        },
        body: JSON.stringify(rows),
        signal: AbortSignal.timeout(POSTGREST_TIMEOUT_MS),
      },
    );
  } catch (error) {
    // It may have committed: say so, never "nothing stored".
    throw new Refusal(
      503,
      "store_outcome_unknown",
      `the database did not answer (${error}); the write may or may not have taken effect: ` +
        "repeat the same request, it takes effect once",
    );
  }
  const text = await answer.text();
  if (answer.status === 429 || answer.status >= 500) {
    throw new Refusal(
      503,
      "store_unavailable",
      `the database is unavailable (PostgREST answered ${answer.status}); nothing was stored`,
    );
  }
  let returned: unknown;
  try {
    returned = JSON.parse(text);
  } catch {
    returned = undefined;
  }
  if (!answer.ok) {
    const message = (returned as { message?: unknown } | undefined)?.message;
    throw new Refusal(
      502,
      "store_rejected",
      `the database refused the request: ${
        typeof message === "string" ? message : `PostgREST answered ${answer.status}`
      }`,
    );
  }
  const stored = new Map<string, number>();
  const wellFormed = Array.isArray(returned) &&
    returned.every((row) => Number.isInteger(row?.id) && typeof row?.event_id === "string");
  if (!wellFormed) {
    throw new Refusal(
      502,
      "store_rejected",
      "the database refused the request: unexpected PostgREST representation: not an array " +
        "of {id, event_id}",
    );
  }
  for (const row of returned as { id: number; event_id: string }[]) {
    stored.set(row.event_id, row.id);
  }
  return stored;
}

// ---- the function ---------------------------------------------------------------------

async function ingest(req: Request, correlationId: string): Promise<Response> {
  if (req.method !== "POST") {
    throw new Refusal(405, "method_not_allowed", "this endpoint accepts POST only");
  }
  const contentType = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (contentType !== "application/json") {
    throw new Refusal(415, "unsupported_media_type", "content-type must be application/json");
  }
  const tooLarge = () =>
    new Refusal(413, "payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const raw = new Uint8Array(await req.arrayBuffer());
  if (raw.length > MAX_BODY_BYTES) throw tooLarge();

  // Only the secrets are read before the caller is authenticated.
  await verifySignature(req.headers, raw, await secrets());
  const rest = restUrl();
  const serviceRoleKey = setting("SUPABASE_SERVICE_ROLE_KEY");

  let body: Json;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (error) {
    throw new Refusal(400, "invalid_json", `body is not valid JSON: ${(error as Error).message}`);
  }
  const defaultCorrelation = UUID.test(correlationId)
    ? correlationId.toLowerCase()
    : crypto.randomUUID();
  const { batch, rows } = parseEvents(body, defaultCorrelation);

  // Events without `event_id` take the key a retry of these same bytes repeats.
  if (rows.some((row) => row.event_id === null)) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw)).toHex();
    rows.forEach((row, index) => {
      row.event_id ??= `sha256:${digest}:${index}`;
    });
  }
  // The first event of each key is the one stored; later ones are repeats.
  const firstOfKey = rows.map((row, index) =>
    rows.findIndex((other) => other.event_id === row.event_id) === index
  );
  const stored = await insert(rows.filter((_, index) => firstOfKey[index]), rest, serviceRoleKey);

  const items = rows.map((row, index) => {
    const id = firstOfKey[index] ? stored.get(row.event_id as string) : undefined;
    return id === undefined
      ? { duplicate: true, event_id: row.event_id, correlation_id: row.correlation_id }
      : { id, correlation_id: row.correlation_id };
  });
  const fresh = items.filter((item) => "id" in item).length;
  console.log(JSON.stringify({
    level: "info",
    message: "odoo events ingested",
    stored: fresh,
    duplicates: items.length - fresh,
    correlation_id: correlationId,
  }));
  return json(fresh > 0 ? 201 : 200, batch ? items : items[0]);
}

Deno.serve(
  {
    hostname: "127.0.0.1",
    port: Number(Deno.env.get("PORT") ?? 8000),
    onListen: ({ hostname, port }) => console.error(`ingest peer listening on ${hostname}:${port}`),
  },
  async (req) => {
    const sent = req.headers.get("x-correlation-id");
    const correlationId = sent !== null && TOKEN.test(sent) ? sent : crypto.randomUUID();
    let response: Response;
    try {
      response = await ingest(req, correlationId);
    } catch (error) {
      const refusal = error instanceof Refusal
        ? error
        : new Refusal(500, "internal_error", "the peer failed");
      console.log(JSON.stringify({
        level: refusal.status >= 500 ? "error" : "info",
        message: "odoo_event_ingest peer refused a request",
        code: refusal.code,
        detail: refusal.message,
        correlation_id: correlationId,
      }));
      if (!(error instanceof Refusal)) console.error(error);
      response = refusalResponse(refusal);
    }
    response.headers.set("x-correlation-id", correlationId);
    return response;
  },
);
