"""Fixtures of the CLI tests."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def sigint_back():
    """Lightning ignores SIGINT from its Ctrl-C shutdown on (and never gives it back): pytest's process gets it back,
    so that a later fit's Ctrl-C handler (RunCheckpoint installs it only over Python's own) is installed."""
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
