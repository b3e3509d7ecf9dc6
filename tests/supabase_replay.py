"""A recorded Supabase exchange, replayed by a real HTTP server on 127.0.0.1.

supabase-py runs unchanged against it (SUPABASE_URL points here). Every request is checked against its recording:
method, path, query, the headers that matter (apikey, Authorization, x-upsert, content types) and the body's shape
(JSON, or multipart fields and the uploaded file's name, content type, size and SHA-256). The recorded response is
sent back, or the connection is dropped to play an upload that breaks off. Recordings live in tests/recordings/;
`{placeholders}` in them stand for the keys, bucket and key prefix of the run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RECORDINGS = Path(__file__).parent / "recordings"


def fake_jwt(role: str) -> str:
    """A JWT-shaped key carrying a role claim, like Supabase's legacy anon and service_role keys."""

    def part(obj: dict[str, Any]) -> str:
        """One base64url JWT segment."""
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'iss': 'supabase', 'ref': 'replay', 'role': role})}.c2ln"


SERVICE_KEY = fake_jwt("service_role")
ANON_KEY = fake_jwt("anon")


def load(name: str, test: str) -> list[dict[str, Any]]:
    """The recorded exchanges of one test from tests/recordings/<name>.json."""
    recordings = json.loads((RECORDINGS / f"{name}.json").read_text())
    return recordings[test]


def _substitute(value: Any, subs: dict[str, Any]) -> Any:
    """`value` with every {placeholder} in its strings replaced; a string that is one placeholder takes the
    substitute's own type (so a recorded `"{expires_at}"` can become a number)."""
    if isinstance(value, str):
        for name, real in subs.items():
            if value == "{" + name + "}":
                return real
            value = value.replace("{" + name + "}", str(real))
        return value
    if isinstance(value, list):
        return [_substitute(v, subs) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, subs) for k, v in value.items()}
    return value


def parse_multipart(content_type: str, body: bytes) -> dict[str, dict[str, Any]]:
    """Parts of a multipart/form-data body by field name: filename, content type and bytes."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, f"no multipart boundary in {content_type!r}"
    parts: dict[str, dict[str, Any]] = {}
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(
            (k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in head.decode().split("\r\n"))
        )
        disposition = headers.get("content-disposition", "")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts[name.group(1) if name else ""] = {
            "filename": filename.group(1) if filename else None,
            "content_type": headers.get("content-type"),
            "data": data[:-2] if data.endswith(b"\r\n") else data,
        }
    return parts


def _check(expected: dict[str, Any], method: str, target: str, headers: dict[str, str], body: bytes) -> list[str]:
    """Differences between a request and its recording (empty when it matches)."""
    problems = []
    parts = urlsplit(target)
    if method != expected["method"] or parts.path != expected["path"]:
        return [f"expected {expected['method']} {expected['path']}, got {method} {parts.path}"]
    if "query" in expected and dict(parse_qsl(parts.query, keep_blank_values=True)) != expected["query"]:
        problems.append(f"query {dict(parse_qsl(parts.query))} != {expected['query']}")
    for name, value in expected.get("headers", {}).items():
        got = headers.get(name.lower())
        if value is None:
            if got is not None:
                problems.append(f"header {name} should be absent, got {got!r}")
        elif got != value and not (name.lower() == "content-type" and got and got.split(";")[0] == value):
            problems.append(f"header {name}: expected {value!r}, got {got!r}")
    if "json" in expected:
        try:
            got_json = json.loads(body or b"null")
        except ValueError:
            got_json = f"<not JSON: {body[:60]!r}>"
        if got_json != expected["json"]:
            problems.append(f"JSON body {got_json!r} != {expected['json']!r}")
    if "multipart" in expected:
        got_parts = parse_multipart(headers.get("content-type", ""), body)
        want = expected["multipart"]
        if sorted(got_parts) != sorted(want):
            problems.append(f"multipart fields {sorted(got_parts)} != {sorted(want)}")
        for field_name, spec in want.items():
            part = got_parts.get(field_name, {})
            data = part.get("data", b"")
            shape = {
                "filename": part.get("filename"),
                "content_type": part.get("content_type"),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "text": data.decode(errors="replace"),
            }
            for key, value in spec.items():
                if shape[key] != value:
                    problems.append(f"multipart {field_name}.{key}: expected {value!r}, got {shape[key]!r}")
    if expected.get("empty_body") and body:
        problems.append(f"expected no body, got {body[:60]!r}")
    return problems


class ReplayServer:
    """Replays one recorded exchange in order; `problems` lists every request that did not match."""

    def __init__(self, exchanges: list[dict[str, Any]], **subs: Any) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._subs = {"base": self.url, **subs}
        self._exchanges = [_substitute(e, self._subs) for e in exchanges]
        self._next = 0
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.seen: list[str] = []

    def __enter__(self) -> ReplayServer:
        """Start serving in a background thread."""
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def assert_complete(self) -> None:
        """Every request matched, and every recorded request was made."""
        assert self.problems == [], "\n".join(self.problems)
        missing = [f"{e['request']['method']} {e['request']['path']}" for e in self._exchanges[self._next :]]
        assert missing == [], f"recorded requests never made: {missing}; made: {self.seen}"

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
        """The recorded response for this request, or a 599 error describing the mismatch."""
        with self._lock:
            self.seen.append(f"{method} {target}")
            if self._next >= len(self._exchanges):
                problem = f"unexpected request {method} {target} after the recording ended"
                self.problems.append(problem)
                return {"status": 599, "json": {"statusCode": "599", "error": "replay", "message": problem}}
            exchange = self._exchanges[self._next]
            self._next += 1
        problems = _check(exchange["request"], method, target, headers, body)
        if problems:
            self.problems.extend(f"request {self._next} ({method} {target}): {p}" for p in problems)
            return {"status": 599, "json": {"statusCode": "599", "error": "replay", "message": "; ".join(problems)}}
        return exchange["response"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class bound to this server."""
        replay = self

        class Handler(BaseHTTPRequestHandler):
            """Answers every method from the recording."""

            protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from Supabase

            def log_message(self, *args: object) -> None:
                """Quiet."""

            def _serve(self) -> None:
                """Read the request, check it, and send the recorded answer (or drop the connection)."""
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                response = replay._answer(self.command, self.path, headers, body)
                if response is None or response.get("drop"):
                    # The connection breaks off before any answer: an upload that fails halfway.
                    self.close_connection = True
                    return
                if "json" in response:
                    payload = json.dumps(response["json"]).encode()
                    content_type = "application/json; charset=utf-8"
                elif "base64" in response:
                    payload, content_type = base64.b64decode(response["base64"]), "application/octet-stream"
                else:
                    payload, content_type = response.get("text", "").encode(), "text/plain; charset=utf-8"
                self.send_response(response["status"])
                sent = {k.lower() for k in response.get("headers", {})}
                for name, value in response.get("headers", {}).items():
                    self.send_header(name, value)
                if "content-type" not in sent and payload:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler
