"""What every test shares: a cache folder of the session's own, so that the suite neither reads nor writes the
user's ``~/.cache/rnnkit`` (the engine's measured choices, the music corpus); the subprocesses tests start
inherit it. Tests that need a cache of their own set ``RNNKIT_CACHE`` again."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def session_cache(tmp_path_factory):
    os.environ["RNNKIT_CACHE"] = str(tmp_path_factory.mktemp("rnnkit-cache"))
