"""Suite-wide rules.

A test that skips because one of the project's own modules failed to import hides a broken
package, so such a skip is turned into a failure (``pytest.importorskip`` on a third-party
module is still a skip).
"""

from __future__ import annotations

import re

import pytest

OWN_PACKAGES = ("trainer", "exporter", "serving", "clients", "tests", "bench")
_OWN_IMPORT_SKIP = re.compile(
    r"could not import '(?:%s)(?:\.|')" % "|".join(OWN_PACKAGES)  # noqa: UP031
)


def own_import_skip(reason: str) -> bool:
    """True when a skip reason says one of the project's own modules failed to import."""
    return bool(_OWN_IMPORT_SKIP.search(reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ARG001
    """Report a skip caused by a failed import of our own code as a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if own_import_skip(reason):
            report.outcome = "failed"
            report.longrepr = f"own module failed to import (a skip would hide it): {reason}"
