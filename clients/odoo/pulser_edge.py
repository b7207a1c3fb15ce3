"""pulser_edge: what an Odoo module needs to talk to pulser-edge, on the standard library only.

- ``post_event``: sign an event (or a batch) and send it to ``odoo_event_ingest``;
- ``git_ops``: sign a ``/pulser/git-ops`` request (a ``git-ops`` or ``deploy_pulse_hub``
  dispatch), with the ``request_id`` and ``timestamp`` that make a retry safe;
- ``verify_apply`` and ``apply_once``: check a ``push_to_odoo`` call at ``/api/agent/apply``
  (``x-api-key``, ``x-signature`` over the raw body) and apply each ``idempotency_key`` once.

Every signature is a hex HMAC-SHA256 over the exact bytes sent: serialize once, sign those
bytes, send those bytes. ``tests/tests/odoo_python.rs`` runs this module against the local
stack (``cargo xtask test``).
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid


def first_secret(secrets):
    """The secret that signs: the first of a comma-separated rotation list."""
    secret = secrets.split(",")[0].strip()
    if not secret:
        raise ValueError("no secret configured")
    return secret.encode()


def sign(body, secret):
    """The hex HMAC-SHA256 of ``body`` (bytes) with ``secret`` (a rotation list or bytes)."""
    key = secret if isinstance(secret, bytes) else first_secret(secret)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _post(url, body, headers, timeout):
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        # A refusal is an answer: its JSON says which code and which field or header.
        return error.code, json.loads(error.read() or b"null")


def post_event(edge_url, secret, event, timeout=10):
    """Sends one event (a dict) or a batch (a list) to ``odoo_event_ingest``, signed with
    ``x-signature``. Give each event an ``event_id`` so that a retry stores nothing twice.
    Returns ``(status, answer)``: 201 stored, 200 duplicate, 4xx/5xx with the error body."""
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", "x-signature": sign(body, secret)}
    return _post(edge_url.rstrip("/") + "/odoo_event_ingest", body, headers, timeout)


def git_ops(edge_url, secret, fields, request_id=None, now=None, timeout=30):
    """Sends a signed ``/pulser/git-ops`` request: ``fields`` is ``{"branch", "message",
    "kv_key"?, "kv_value"?}`` or ``{"event_type": "deploy_pulse_hub", "environment",
    "image_tag", "service", "odoo_user"?}``. ``request_id`` (default: a new UUID) makes a
    retry dispatch once; keep it to retry. Returns ``(status, answer)``: 202 dispatched."""
    payload = dict(fields)
    payload["request_id"] = request_id or str(uuid.uuid4())
    payload["timestamp"] = int(time.time() if now is None else now)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "x-pulser-signature": "sha256=" + sign(body, secret),
    }
    return _post(edge_url.rstrip("/") + "/pulser/git-ops", body, headers, timeout)


class Refused(Exception):
    """A call to ``/api/agent/apply`` that must be answered 401."""


def verify_apply(raw, headers, signing_secret, api_key):
    """Checks one ``push_to_odoo`` call: ``raw`` the request body as received (bytes),
    ``headers`` a case-insensitive mapping (Werkzeug's ``request.headers``, or a dict with
    lower-case names). Returns the parsed body; raises ``Refused`` saying which check failed.
    Accepts any secret of the ``signing_secret`` rotation list."""
    get = getattr(headers, "get")
    given_key = get("x-api-key") or ""
    if not hmac.compare_digest(given_key.encode(), api_key.encode()):
        raise Refused("x-api-key does not match")
    signature = get("x-signature") or ""
    keys = [s.strip().encode() for s in signing_secret.split(",") if s.strip()]
    if not any(hmac.compare_digest(sign(raw, key), signature) for key in keys):
        raise Refused("x-signature does not match the body")
    body = json.loads(raw)
    if not isinstance(body.get("idempotency_key"), str):
        raise Refused("the body has no idempotency_key")
    return body


def apply_once(seen, record, body, effect):
    """Runs ``effect(action, args)`` once per ``idempotency_key``. ``seen(key)`` says whether a
    key took effect; ``record(key)`` remembers it, in the same transaction as the effect (in
    Odoo: a model with a unique ``key`` field, inside ``env.cr.savepoint()``). Returns the
    answer to send: ``{"ok": true}``, or ``{"ok": true, "duplicate": true}`` for a repeat."""
    key = body["idempotency_key"]
    if seen(key):
        return {"ok": True, "duplicate": True}
    effect(body["action"], body.get("args", {}))
    record(key)
    return {"ok": True}
