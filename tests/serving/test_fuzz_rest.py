"""Hypothesis-generated bodies against the REST endpoints: never a 5xx, server alive after.

A few hundred bodies per run in CI; raise FUZZ_EXAMPLES for a longer soak.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.fixed_dictionaries({"b64": st.text(alphabet="AQz09+/=-_ ", max_size=8)}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["x", "y", "b64", "inputs"]), inner, max_size=3),
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    ["instances", "inputs", "signature_name", "examples", "context", "other"]
)
documents = st.one_of(values, st.dictionaries(keys, values, max_size=3))


def encode(document, cut: int | None, garbage: bytes) -> bytes:
    text = json.dumps(document, allow_nan=True).encode()
    if cut is not None:
        text = text[: cut % (len(text) + 1)]
    return text + garbage


def make_bodies(max_depth: int) -> st.SearchStrategy[bytes]:
    """Generated documents (cut and trailed with garbage), raw bytes, and ``instances``
    nested up to ``max_depth`` levels."""
    return st.one_of(
        st.builds(
            encode,
            documents,
            st.none() | st.integers(min_value=0, max_value=200),
            st.sampled_from([b"", b" trailing", b"\xff", b"]]"]),
        ),
        st.binary(max_size=64),
        st.builds(lambda n: b'{"instances": ' + b"[" * n + b"1.0" + b"]" * n + b"}",
                  st.integers(0, max_depth)),
    )


bodies = make_bodies(2000)
paths = st.sampled_from(
    [
        "/v1/models/hp:predict",
        "/v1/models/hp/versions/1:predict",
        "/v1/models/hp/labels/stable:predict",
        "/v1/models/hp:classify",
        "/v1/models/hp:regress",
        "/v1/models/nope:predict",
    ]
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=paths, body=bodies)
def test_no_server_error_for_any_body(rest, path, body):
    reply = rest.post(path, body)
    assert reply.status < 500, (path, body, reply.body)
    assert reply.headers["content-type"] == "application/json"
    if reply.status != 200:
        assert set(json.loads(reply.body)) == {"error"}


def test_server_alive_after_fuzzing(rest):
    reply = rest.post("/v1/models/hp/versions/1:predict", '{"instances": [2.0]}')
    assert reply.json() == {"predictions": [3.0]}
