"""Fixtures shared by the graph tests."""

from __future__ import annotations

import pytest

from graph import readmodel


@pytest.fixture
def patches(monkeypatch):
    """How many times the competence index was updated, and rebuilt, since the fixture started."""
    counts = {"patched": 0, "rebuilt": 0}
    patch, build = readmodel.patch_competence, readmodel.build_competence

    def counting_patch(*args):
        found = patch(*args)
        counts["patched"] += found is not None
        return found

    def counting_build(store):
        counts["rebuilt"] += 1
        return build(store)

    monkeypatch.setattr(readmodel, "patch_competence", counting_patch)
    monkeypatch.setattr(readmodel, "build_competence", counting_build)
    return counts
