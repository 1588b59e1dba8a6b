"""The hardened model server: MLflow's scoring app for the registered model, behind request checks.

``python -m recsys serve`` (``make serve``) runs it with uvicorn. It answers exactly like ``mlflow models serve``
(same routes, same JSON in and out) and adds what a server facing other programs needs:

* a request larger than :data:`MAX_REQUEST_BYTES` (or one without a ``Content-Length``) is refused with a 400
  (411) without its body ever being stored or parsed;
* a ``params`` key other than the model's (``k``) is refused with a 400 naming the accepted ones (MLflow itself
  drops unknown params with a warning in the server log, which the caller never sees);
* ids longer than :data:`recsys.serving.MAX_ID_LENGTH` and more than ``MAX_USERS_PER_REQUEST`` users are refused
  by the model itself, and missing scores are JSON ``null`` (never ``NaN``), whichever server runs it.
"""

from __future__ import annotations

import json

from recsys.serving import MAX_USERS_PER_REQUEST, PARAMS

#: Largest request body: 10,000 UUID-sized ids take ~0.4 MB; anything much bigger is a mistake or an attack.
MAX_REQUEST_BYTES = 2_000_000
#: A refused body up to this size is read and thrown away (never stored) before the 400, so that the client,
#: still sending, receives the answer instead of a reset connection; a larger one gets the 400 at once.
DRAIN_BYTES = 64_000_000


def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error_code": "BAD_REQUEST", "message": message}, status_code=status)


def request_problem(body: bytes) -> str | None:
    """What is wrong with a request body that the model cannot see (unknown params), or None. A body that is
    not JSON is left to MLflow, which refuses it with its own 400."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict) or "params" not in payload:
        return None
    params = payload["params"]
    if not isinstance(params, dict):
        return f"'params' must be an object with the keys {list(PARAMS)}, got {type(params).__name__}"
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        return f"unknown parameter(s) {unknown}; accepted: {list(PARAMS)}"
    return None


def create_app(model_uri: str, max_request_bytes: int = MAX_REQUEST_BYTES):
    """MLflow's scoring app for ``model_uri`` with the request checks of this module."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    app = scoring_server.init(mlflow.pyfunc.load_model(model_uri))

    @app.middleware("http")
    async def guard(request, call_next):
        if request.method != "POST":
            return await call_next(request)
        length = request.headers.get("content-length")
        if length is None:
            return _error(411, "send the request with a Content-Length header (chunked bodies are not accepted)")
        if not length.isdigit() or int(length) > max_request_bytes:
            if length.isdigit() and int(length) <= DRAIN_BYTES:
                async for _ in request.stream():  # discard, chunk by chunk
                    pass
            return _error(
                400,
                f"request body of {length} bytes, the limit is {max_request_bytes:,} bytes "
                f"(at most {MAX_USERS_PER_REQUEST:,} users per request; use `python -m recsys batch` for more)",
            )
        problem = request_problem(await request.body())  # cached: the endpoint reads the same body
        if problem:
            return _error(400, problem)
        return await call_next(request)

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
    """Run the hardened server until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model_uri), host=host, port=port, log_level="warning")
