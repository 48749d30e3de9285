"""Cassette settings shared by the tests and the offline demo.

One place decides how a recorded API call is matched and scrubbed, so a cassette the tests
accept is one the demo can play:

* matched on method, full URI and body; JSON bodies compare as data, and the sealed-box
  ``encrypted_value`` of a GitHub secret (random on every call) compares as a placeholder;
* Authorization headers and cookies never recorded; ``token_value``, ``secret``,
  ``access_token``, ``client_secret`` and ``encrypted_value`` replaced in bodies.
"""

from __future__ import annotations

import json
from typing import Any

PLACEHOLDER = "REDACTED"
SECRET_FIELDS = frozenset(
    {"token_value", "secret", "access_token", "client_secret", "encrypted_value", "password"}
)
SCRUBBED_HEADERS = (
    "authorization",
    "cookie",
    "set-cookie",
    "x-databricks-azure-sp-management-token",
)
MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "json_body")


def scrub(data: Any) -> Any:
    """``data`` with every secret-bearing field replaced by the placeholder."""
    if isinstance(data, dict):
        return {
            k: (PLACEHOLDER if k in SECRET_FIELDS and isinstance(v, str) else scrub(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


def scrub_text(body: str | bytes | None) -> str | bytes | None:
    """Scrub a JSON body given as text; anything else is returned unchanged."""
    if not body:
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    cleaned = json.dumps(scrub(data), separators=(",", ":"))
    return cleaned.encode() if isinstance(body, bytes) else cleaned


def _body_data(body: Any) -> Any:
    if body in (None, b"", ""):
        return None
    try:
        return scrub(json.loads(body))
    except (ValueError, UnicodeDecodeError, TypeError):
        return body


def json_body_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal as (scrubbed) JSON data, or byte for byte."""
    a, b = _body_data(r1.body), _body_data(r2.body)
    if a != b:
        raise AssertionError(f"bodies differ: {a!r} != {b!r}")


def _before_record_request(request: Any) -> Any:
    request.body = scrub_text(request.body)
    return request


def _before_record_response(response: dict) -> dict:
    body = response.get("body", {})
    if "string" in body:
        body["string"] = scrub_text(body["string"])
    for name in list(response.get("headers", {})):
        if name.lower() in SCRUBBED_HEADERS:
            del response["headers"][name]
    return response


def vcr_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR`` / pytest-recording's ``vcr_config``."""
    return {
        "filter_headers": list(SCRUBBED_HEADERS),
        "before_record_request": _before_record_request,
        "before_record_response": _before_record_response,
        "decode_compressed_response": True,
        "match_on": list(MATCH_ON),
        "allow_playback_repeats": False,
    }


def make_vcr(cassette_dir: str) -> Any:
    """A VCR that only plays back (the demo)."""
    import vcr

    kwargs = vcr_kwargs()
    kwargs.pop("allow_playback_repeats")  # a use_cassette() option; False is its default
    player = vcr.VCR(cassette_library_dir=cassette_dir, record_mode="none", **kwargs)
    player.register_matcher("json_body", json_body_matcher)
    return player
