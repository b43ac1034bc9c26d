"""glibc malloc keeps freed memory for reuse when a network runs on the CPU."""

from __future__ import annotations

import platform

import pytest
import torch

from tomorestore.errors import InputError
from tomorestore.models import cpu_allocator, performance
from tomorestore.models.cpu_allocator import keep_freed_memory, top_pad_setting

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    monkeypatch.delenv("TOMORESTORE_MALLOC_TOP_PAD", raising=False)
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)


def test_the_default_pad_is_one_gibibyte_and_the_variable_overrides_it(monkeypatch):
    assert top_pad_setting() == 1 << 30
    monkeypatch.setenv("TOMORESTORE_MALLOC_TOP_PAD", "268435456")
    assert top_pad_setting() == 268435456


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
    monkeypatch.setattr(performance, "keep_freed_memory", lambda: calls.append(1) or True)
    network = torch.nn.Conv3d(1, 1, 3)
    performance.prepare_for_speed(network, "cpu")
    assert calls == [1]
    performance.prepare_for_speed(network, "meta", channels_last=False)
    assert calls == [1]
