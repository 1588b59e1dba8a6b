"""The hardened model server: MLflow's scoring app for the registered model, behind request checks.

``python -m recsys serve`` (``make serve``) runs it with uvicorn. It answers exactly like ``mlflow models serve``
(same routes, same JSON in and out) and adds what a server facing other programs needs:

* a request larger than :data:`MAX_REQUEST_BYTES` (or one without a ``Content-Length``) is refused with a 400
  (411) without its body ever being stored or parsed; a body that is neither JSON nor CSV gets a 415;
* a ``params`` key other than the model's (``k``) is refused with a 400 naming the accepted ones (MLflow itself
  drops unknown params with a warning in the server log, which the caller never sees);
* ids longer than :data:`recsys.serving.MAX_ID_LENGTH` and more than ``MAX_USERS_PER_REQUEST`` users are refused
  by the model itself, and missing scores are JSON ``null`` (never ``NaN``), whichever server runs it;
* every error is a JSON object ``{"error_code", "message"}`` of at most :data:`MAX_ERROR_BYTES`, which never
  echoes the request back (MLflow's own errors are cut to their first sentence, without stack trace);
* one access-log line per request (method, path, status, users asked, latency) on the ``recsys.server`` logger;
* SIGTERM (and Ctrl-C) stops it cleanly: requests in flight are answered, then it logs that it stopped.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import time

from recsys.serving import MAX_USERS_PER_REQUEST, PARAMS, RequestError, check_k

log = logging.getLogger("recsys.server")

#: Largest request body: 10,000 UUID-sized ids take ~0.4 MB; anything much bigger is a mistake or an attack.
MAX_REQUEST_BYTES = 2_000_000
#: A refused body up to this size is read and thrown away (never stored) before the 400, so that the client,
#: still sending, receives the answer instead of a reset connection; a larger one gets the 400 at once.
DRAIN_BYTES = 64_000_000
#: Largest error reply, JSON included.
MAX_ERROR_BYTES = 1024
#: Request bodies the scoring app reads.
CONTENT_TYPES = ("application/json", "text/csv")
#: Signals that stop the server cleanly.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
ERROR_CODES = {400: "BAD_REQUEST", 411: "LENGTH_REQUIRED", 415: "UNSUPPORTED_MEDIA_TYPE"}


def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    code = ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    return JSONResponse({"error_code": code, "message": brief(message)}, status_code=status)


def brief(message: str, limit: int = MAX_ERROR_BYTES - 100) -> str:
    """An error message short enough for a reply: the reason of a refusal MLflow wrapped around the input, its first
    line, without anything that looks like an echoed array or frame, at most ``limit`` characters."""
    text = str(message).strip()
    # MLflow wraps the model's own refusal as "Failed to predict data '<the whole input>'. \nError: <reason>"
    text = text.rsplit("\nError: ", 1)[-1].strip() if "\nError: " in text else text
    first = text.splitlines()[0] if text else "the request was refused"
    first = re.split(r"\s*(?:array\(|\[\[|Input data|input_data|\{'|\{\")", first)[0].rstrip(" :,.'\"")
    return first if len(first) <= limit else first[: limit - 3].rstrip() + "..."


def request_problem(body: bytes) -> str | None:
    """What is wrong with a JSON request body's ``params`` (unknown names, ``k`` out of range: MLflow would drop the
    first silently and echo the second), or None. A body that is not JSON is left to MLflow, which refuses it with
    its own 400."""
    payload = _payload(body)
    if not isinstance(payload, dict) or "params" not in payload:
        return None
    params = payload["params"]
    if not isinstance(params, dict):
        return f"'params' must be an object with the keys {list(PARAMS)}, got {type(params).__name__}"
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        # short identifier-like names are named back (what a typo looks like); anything else only counted
        shown = [name for name in unknown if re.fullmatch(r"\w{1,20}", name)][:3]
        rest = len(unknown) - len(shown)
        more = f"{' and ' if shown else ''}{rest} other name(s)" if rest else ""
        return f"unknown parameter(s) {shown if shown else ''}{more}; accepted: {list(PARAMS)}"
    if "k" in params:
        try:
            check_k(params["k"])
        except RequestError as err:
            return str(err)
    return None


def _payload(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None


def users_asked(body: bytes) -> int | None:
    """How many users a JSON request asks for (None when it cannot tell): for the access log."""
    payload = _payload(body)
    if not isinstance(payload, dict):
        return None
    found = payload.get("inputs", payload.get("instances"))
    if isinstance(found, dict):
        found = found.get("user_id")
    if found is None and isinstance(payload.get("dataframe_split"), dict):
        found = payload["dataframe_split"].get("data")
    if found is None:
        found = payload.get("dataframe_records")
    return len(found) if isinstance(found, list) else None


async def _checked(request, call_next, max_request_bytes: int):
    """The app's answer to ``request``, or the guard's refusal; and the users asked (for the log)."""
    if request.method != "POST":
        return await call_next(request), None
    length = request.headers.get("content-length")
    if length is None:
        return _error(411, "send the request with a Content-Length header (chunked bodies are not accepted)"), None
    if not length.isdigit() or int(length) > max_request_bytes:
        if length.isdigit() and int(length) <= DRAIN_BYTES:
            async for _ in request.stream():  # discard, chunk by chunk
                pass
        limit = f"the limit is {max_request_bytes:,} bytes (at most {MAX_USERS_PER_REQUEST:,} users per request;"
        return _error(400, f"request body of {length[:20]} bytes, {limit} use `python -m recsys batch` for more)"), None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in CONTENT_TYPES:
        return _error(415, f"send the body as {' or '.join(CONTENT_TYPES)}, not {kind[:40] or 'an unnamed type'}"), None
    body = await request.body()  # cached: the endpoint reads the same body
    users = users_asked(body)
    problem = request_problem(body)
    if problem:
        return _error(400, problem), users
    response = await call_next(request)
    if response.status_code < 400:
        return response, users
    return await _briefed(response), users


async def _briefed(response):
    """An error reply of MLflow's scoring app as this server's: JSON, first sentence only, no stack trace."""
    raw = b"".join([chunk async for chunk in response.body_iterator])
    payload = _payload(raw)
    message = payload.get("message") if isinstance(payload, dict) else None
    return _error(response.status_code, message or raw.decode("utf-8", "replace") or "the request was refused")


def create_app(model_uri: str, max_request_bytes: int = MAX_REQUEST_BYTES):
    """MLflow's scoring app for ``model_uri`` with the request checks and access log of this module."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    app = scoring_server.init(mlflow.pyfunc.load_model(model_uri))

    @app.middleware("http")
    async def guard(request, call_next):
        started = time.perf_counter()
        response, users = await _checked(request, call_next, max_request_bytes)
        ms = (time.perf_counter() - started) * 1000
        asked = "-" if users is None else users
        log.info("%s %s %d users=%s %.1f ms", request.method, request.url.path, response.status_code, asked, ms)
        return response

    return app


def wait_until_ready(proc, port: int, log_path, timeout_s: float = 300.0) -> None:
    """Block until a server process answers ``/ping`` on loopback; raise SystemExit naming its log when it exits
    or does not answer within ``timeout_s`` (used by the benchmarks that start a server)."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the server did not answer /ping within {timeout_s:.0f} s; see {log_path}")


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 5001) -> None:
    """Run the hardened server until SIGTERM or Ctrl-C (uvicorn answers the requests in flight, then returns)."""
    import uvicorn

    from recsys.progress import setup_logging

    setup_logging()
    # uvicorn shuts down gracefully on SIGTERM / SIGINT, then raises the signal again to its previous handler:
    # make that one note it, so that the process ends normally (status 0, this log line) instead of being killed
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, _: received.append(number)) for sig in STOP_SIGNALS}
    try:
        uvicorn.run(create_app(model_uri), host=host, port=port, log_level="warning", access_log=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    why = f" on {signal.Signals(received[0]).name}" if received else ""
    log.info("server on %s:%d stopped%s", host, port, why)
