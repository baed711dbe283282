"""Batching-file fields (``max_execution_batch_size``, ``enable_large_batch_splitting``,
``pad_variable_length_inputs``), shutdown of the batcher, and empty batches in the core."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from serving.batching import Batcher, BatchingOptions
from serving.errors import Code, ServingError
from serving.server_options import FlagError
from serving.server_setup import load_batching_options
from tests.serving.conftest import FakeBackend
from tests.serving.test_core_batching import make_core, predict_many, rows


def _parse(tmp_path, text: str) -> BatchingOptions:
    path = tmp_path / "batching.txt"
    path.write_text(text)
    return load_batching_options(str(path))


def test_new_fields_are_read(tmp_path, caplog):
    options = _parse(
        tmp_path,
        "max_batch_size { value: 8 } enable_large_batch_splitting { value: true } "
        "max_execution_batch_size { value: 3 } pad_variable_length_inputs: true",
    )
    assert options.enable_large_batch_splitting and options.pad_variable_length_inputs
    assert options.max_execution_batch_size == 3 and options.execution_batch_size == 3
    assert "pad_variable_length_inputs" in caplog.text  # says where padding cannot apply
    unset = _parse(
        tmp_path, "max_batch_size { value: 8 } enable_large_batch_splitting { value: true }"
    )
    assert unset.execution_batch_size == 8


def test_execution_size_without_splitting_warns_and_is_ignored(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        options = _parse(
            tmp_path, "max_batch_size { value: 8 } max_execution_batch_size { value: 2 }"
        )
    assert options.execution_batch_size == 8
    assert (
        "max_execution_batch_size has no effect without enable_large_batch_splitting" in caplog.text
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "max_batch_size { value: 4 } enable_large_batch_splitting { value: true } "
            "max_execution_batch_size { value: 8 }",
            "max_batch_size must be greater than or equal to max_execution_batch_size",
        ),
        (
            "max_batch_size { value: 8 } enable_large_batch_splitting { value: true } "
            "max_execution_batch_size { value: 4 } allowed_batch_sizes: [2, 8]",
            "end with max_execution_batch_size (4)",
        ),
        ("max_batch_size { value: 8 } allowed_batch_sizes: [2, 4]", "end with max_batch_size (8)"),
    ],
)
def test_invalid_combinations_are_refused(tmp_path, text, message):
    with pytest.raises(FlagError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _parse(tmp_path, text)


def test_large_request_is_split_across_batches_and_reassembled():
    backend = FakeBackend()
    core = make_core(
        backend,
        max_batch_size=8,
        batch_timeout_micros=100_000,
        num_batch_threads=1,
        enable_large_batch_splitting=True,
        max_execution_batch_size=3,
    )
    x = np.arange(7, dtype=np.float32)[:, None]
    small = np.array([[100.0]], np.float32)
    results = asyncio.run(predict_many(core, [small, x]))
    np.testing.assert_array_equal(results[0]["y"], 0.5 * small + 2)
    np.testing.assert_array_equal(results[1]["y"], 0.5 * x + 2)
    # the small request's open batch takes 2 rows of the large one, then 3 + 2
    assert backend.batches == [3, 3, 2] and max(backend.batches) <= 3
    core.close()


def test_without_splitting_a_request_above_max_batch_size_is_refused():
    core = make_core(FakeBackend(), max_batch_size=4, batch_timeout_micros=1000)
    [result] = asyncio.run(predict_many(core, [np.zeros((5, 1), np.float32)]))
    assert isinstance(result, ServingError) and result.code == Code.INVALID_ARGUMENT
    assert result.message == "Task size 5 is larger than maximum input batch size 4"
    core.close()


def test_split_request_beyond_queue_capacity_is_unavailable():
    options = BatchingOptions(
        max_batch_size=10,
        batch_timeout_micros=100_000,
        max_enqueued_batches=2,
        num_batch_threads=1,
        enable_large_batch_splitting=True,
        max_execution_batch_size=2,
    )
    batcher = Batcher(options)

    async def run(batch):
        return batch

    async def scenario():
        return await batcher.submit(("k",), {"x": np.zeros((5, 1))}, run)

    with pytest.raises(ServingError) as info:
        asyncio.run(scenario())
    assert info.value.code == Code.UNAVAILABLE
    assert "task size is 5 but scheduling capacity is only 4" in info.value.message
    assert batcher.queue_count == 0


def test_padding_merges_variable_length_inputs_with_the_first_element():
    backend = FakeBackend()  # input x has unknown rank: every dimension is variable
    core = make_core(
        backend,
        max_batch_size=8,
        batch_timeout_micros=200_000,
        num_batch_threads=1,
        pad_variable_length_inputs=True,
    )
    a = np.array([[1.0, 2.0]], np.float32)
    b = np.array([[3.0, 4.0, 5.0]], np.float32)
    results = asyncio.run(predict_many(core, [a, b]))
    assert backend.batches == [2]  # merged, not run separately
    np.testing.assert_array_equal(results[0]["y"], 0.5 * np.array([[1.0, 2.0, 1.0]]) + 2)
    np.testing.assert_array_equal(results[1]["y"], 0.5 * b + 2)
    core.close()


def test_without_padding_different_shapes_run_separately():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1)
    results = asyncio.run(
        predict_many(core, [np.ones((1, 2), np.float32), np.ones((1, 3), np.float32)])
    )
    assert sorted(backend.batches) == [1, 1]
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3)]
    core.close()


def test_padding_never_touches_fixed_dimensions(caplog):
    options = BatchingOptions(
        max_batch_size=8, batch_timeout_micros=100_000, pad_variable_length_inputs=True
    )
    batcher = Batcher(options)
    seen = []

    async def run(batch):
        seen.append(batch["x"].shape)
        return {"y": batch["x"]}

    async def scenario():
        fixed = {"x": (False,)}  # signature [-1, 2]
        calls = [
            batcher.submit(("id", "m", "sig", ()), {"x": np.ones((1, n))}, run, fixed)
            for n in (2, 3)
        ]
        return await asyncio.gather(*calls)

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert sorted(seen) == [(1, 2), (1, 3)]  # two batches: a fixed dim is never padded
    assert "pad_variable_length_inputs has no effect on model m signature sig" in caplog.text


def test_close_fails_waiting_requests_and_refuses_new_ones():
    backend = FakeBackend()
    core = make_core(backend, max_batch_size=8, batch_timeout_micros=10_000_000)

    async def scenario():
        waiting = asyncio.ensure_future(predict_many(core, rows(3)))
        await asyncio.sleep(0.05)
        core.close_batching()
        first = await asyncio.wait_for(waiting, 5)
        later = await predict_many(core, rows(1))
        return first + later

    results = asyncio.run(scenario())
    assert all(isinstance(r, ServingError) and r.code == Code.UNAVAILABLE for r in results)
    assert backend.batches == []
    core.close()


def test_empty_batch_of_unknown_rank_signature_runs_the_model():
    backend = FakeBackend()  # unknown output shape: only the model knows the answer
    core = make_core(backend)
    [result] = asyncio.run(predict_many(core, [np.zeros((0, 1), np.float32)]))
    assert result["y"].shape == (0, 1) and backend.batches == [0]
    core.close()
