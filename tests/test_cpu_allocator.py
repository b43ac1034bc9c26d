"""glibc malloc keeps freed memory for reuse when a network runs on the CPU."""

from __future__ import annotations

import platform

import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.models import cpu_allocator, performance
from tomorestore.models.cpu_allocator import (
    RESTORE_TOP_PAD,
    TRAINING_TOP_PAD,
    keep_freed_memory,
    top_pad_setting,
)

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    monkeypatch.delenv("TOMORESTORE_MALLOC_TOP_PAD", raising=False)
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    monkeypatch.setattr(cpu_allocator, "_applied_pad", 0)


def test_restoring_pads_256_mib_training_1_gib_and_the_variable_overrides_both(monkeypatch):
    assert top_pad_setting() == RESTORE_TOP_PAD == 256 << 20
    assert top_pad_setting(TRAINING_TOP_PAD) == 1 << 30
    calls = []
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda: lambda *a: calls.append(a[1]) or 1)
    assert keep_freed_memory() is True
    assert keep_freed_memory(training=True) is True
    assert calls == [256 << 20, 1 << 30]
    monkeypatch.setenv("TOMORESTORE_MALLOC_TOP_PAD", "2147483647")
    assert top_pad_setting() == top_pad_setting(TRAINING_TOP_PAD) == 2147483647


def test_a_smaller_pad_never_replaces_a_larger_one(monkeypatch):
    """A restore inside training (dewedge's refill) keeps the training pad."""
    calls = []
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda: lambda *a: calls.append(a[1]) or 1)
    assert keep_freed_memory(training=True) is True
    assert keep_freed_memory() is True  # already at least 256 MiB: nothing to do
    assert keep_freed_memory(2000 << 20) is True
    assert calls == [1 << 30, 2000 << 20]


@pytest.mark.parametrize("text", ["lots", "-1", str(2**31), "1.5"])
def test_a_bad_variable_says_what_to_set(monkeypatch, text):
    monkeypatch.setenv("TOMORESTORE_MALLOC_TOP_PAD", text)
    with pytest.raises(InputError, match="TOMORESTORE_MALLOC_TOP_PAD.*number of bytes"):
        keep_freed_memory()


def test_an_out_of_range_pad_is_refused():
    with pytest.raises(ValueError, match="top_pad"):
        keep_freed_memory(-5)


def test_zero_or_the_users_glibc_variable_leave_malloc_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda: lambda *a: calls.append(a) or 1)
    assert keep_freed_memory(0) is False
    monkeypatch.setenv("TOMORESTORE_MALLOC_TOP_PAD", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("TOMORESTORE_MALLOC_TOP_PAD")
    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")
    assert keep_freed_memory() is False
    assert calls == []
    monkeypatch.delenv("MALLOC_TOP_PAD_")
    assert keep_freed_memory(1234) is True
    assert calls == [(cpu_allocator.M_TOP_PAD, 1234)]


def test_without_glibc_nothing_is_applied(monkeypatch):
    monkeypatch.setattr(cpu_allocator, "_mallopt", lambda: None)
    assert keep_freed_memory() is False


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_glibc_accepts_the_setting():
    assert keep_freed_memory() is True


def test_preparing_a_network_for_the_cpu_applies_it_and_for_other_devices_not(monkeypatch):
    calls = []
    monkeypatch.setattr(
        performance, "keep_freed_memory", lambda training: calls.append(training) or True
    )
    network = torch.nn.Conv3d(1, 1, 3)
    performance.prepare_for_speed(network, "cpu")
    performance.prepare_for_speed(network, "cpu", training=True)
    assert calls == [False, True]
    performance.prepare_for_speed(network, "meta", channels_last=False)
    assert calls == [False, True]
