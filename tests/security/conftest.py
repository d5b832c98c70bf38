"""The security corpus's sentinel: no process of the sandbox may outlive the tests that started it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.corpus import wait_for_no_leftovers


@pytest.fixture(scope="session", autouse=True)
def no_sandbox_process_left_over() -> Iterator[None]:
    """After the whole session (each xdist worker checks its own sandbox user), nothing is left running."""
    yield
    leftovers = wait_for_no_leftovers()
    assert not leftovers, "sandbox processes outlived the tests:\n" + "\n".join(leftovers)
