"""The hardened server's pure helpers: brief error messages and the users a request asks for (its HTTP
behaviour is tested against a running server in tests/test_serving.py)."""

from __future__ import annotations

import json

from recsys.server import MAX_ERROR_BYTES, brief, request_problem, users_asked


def test_brief_keeps_the_first_sentence_and_drops_echoed_data():
    mlflow_style = (
        "Failed to predict data 'array([['u1'],\n       ['u2']], dtype=object)'. \nError: shapes do not match\n"
        "Traceback (most recent call last): ..."
    )
    assert brief(mlflow_style) == "shapes do not match"  # the reason, not the echoed input
    assert brief("Failed to predict data 'array([1])'") == "Failed to predict data"
    fields = "The input must be a JSON dictionary with exactly one of the input fields {'inputs', 'instances'}"
    assert brief(fields) == "The input must be a JSON dictionary with exactly one of the input fields"
    assert len(brief("x" * 100_000)) <= MAX_ERROR_BYTES - 100 and brief("x" * 100_000).endswith("...")
    assert brief("") == "the request was refused"


def test_unknown_params_are_named_briefly():
    assert request_problem(b'{"inputs": ["a"], "params": {"kk": 1}}') == "unknown parameter(s) ['kk']; accepted: ['k']"
    many = json.dumps({"inputs": ["a"], "params": {("p" * 500) + str(i): 1 for i in range(10)}}).encode()
    problem = request_problem(many)
    assert problem == "unknown parameter(s) 10 other name(s); accepted: ['k']"
    assert request_problem(b'{"params": {"kk": 1, "x" : 2}}') == "unknown parameter(s) ['kk', 'x']; accepted: ['k']"
    assert "between 1 and" in request_problem(json.dumps({"params": {"k": "q" * 10_000}}).encode())
    assert request_problem(b"not json") is None and request_problem(b'{"inputs": ["a"]}') is None


def test_users_asked_reads_every_request_shape():
    assert users_asked(b'{"inputs": {"user_id": ["a", "b"]}}') == 2
    assert users_asked(b'{"inputs": ["a", "b", "c"]}') == 3
    assert users_asked(b'{"dataframe_split": {"columns": ["user_id"], "data": [["a"]]}}') == 1
    assert users_asked(b'{"dataframe_records": [{"user_id": "a"}, {"user_id": "b"}]}') == 2
    assert users_asked(b'{"inputs": {"user_id": "a"}}') is None and users_asked(b"[1") is None
