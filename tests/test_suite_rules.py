"""The suite's own rules (tests/conftest.py), checked with pytest's pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import own_import_skip

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("reason", "own"),
    [
        ("could not import 'serving.app': No module named 'serving.app'", True),
        ("could not import 'clients': boom", True),
        ("could not import 'trainer.cli': cannot import name 'x'", True),
        ("could not import 'tensorflow': No module named 'tensorflow'", False),
        ("could not import 'servingx': nope", False),
        ("the C extension is not built", False),
    ],
)
def test_own_import_skip_is_recognised(reason: str, own: bool) -> None:
    assert own_import_skip(reason) is own


def test_a_skip_on_an_own_broken_module_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the project's ``tests`` package, not another
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(
        test_x="""
        import pytest

        def test_own():
            pytest.importorskip("serving.no_such_module_here")

        def test_third_party():
            pytest.importorskip("no_such_third_party_module_xyz")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*own module failed to import*serving.no_such_module_here*"])
