"""The command-line entry point's allocator setting (socialbias/clitools.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = ("import ctypes, resource, numpy as np\n"
         "from socialbias.clitools import retain_freed_memory\n"
         "print(retain_freed_memory())\n"
         "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
         "for _ in range(50):\n"
         "    chunk = [np.ones(3 << 18) for _ in range(4)]  # 4 x 6 MiB, each from the heap\n"
         "    del chunk\n"
         "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")


def _probe(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_arrays_are_reused_not_faulted_in_again() -> None:
    """With the setting, 50 rounds of four 6 MiB arrays allocated and freed fault their pages
    in once (measured: 6,142 faults, the 24 MiB in 4 KiB pages, against 101,238), not in every
    round: by default glibc hands the freed 24 MiB back to the kernel each time (its trim
    threshold is twice the largest array freed)."""
    said, faults = _probe()
    assert said == "True"
    said_default, faults_default = _probe(MALLOC_ARENA_MAX="8")  # a user's MALLOC_* variable: left alone
    assert said_default == "False"
    assert faults < 20_000 and 10 * faults < faults_default, (faults, faults_default)


def test_only_the_command_line_sets_it() -> None:
    """Importing the package or calling main() never changes the host's allocator."""
    import socialbias.eval as ev

    source = open(ev.__file__, encoding="utf-8").read()
    assert source.count("retain_freed_memory()") == 1
    assert source.index("retain_freed_memory()") > source.index('if __name__ == "__main__":')


#: Variables by which a user chooses an allocator or its settings: left out of the probes
#: environment unless a test gives them.
_USER_CHOICES = ("GLIBC_TUNABLES", "ARROW_DEFAULT_MEMORY_POOL", "NUMPY_MADVISE_HUGEPAGE")


def _after_setting(module: str, expression: str, **env: str) -> str:
    """What ``expression`` (of ``module``) is in a fresh interpreter once retain_freed_memory()
    ran, with only the allocator choices given in ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in _USER_CHOICES}
    code = (f"import {module}\nfrom socialbias.clitools import retain_freed_memory\n"
            f"retain_freed_memory()\nprint({expression})\n")
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_arrow_allocates_from_glibc_unless_the_user_chose() -> None:
    def backend(**env: str) -> str:
        return _after_setting("pyarrow", "pyarrow.default_memory_pool().backend_name", **env)

    assert backend() == "system"
    assert backend(ARROW_DEFAULT_MEMORY_POOL="jemalloc") == "jemalloc"
    assert backend(MALLOC_ARENA_MAX="8") != "system"  # glibc left alone: Arrow too


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_numpy_stops_advising_huge_pages_unless_the_user_chose() -> None:
    def advised(**env: str) -> str:
        return _after_setting("numpy", "numpy._core.multiarray._get_madvise_hugepage()", **env)

    assert advised() == "False"
    assert advised(NUMPY_MADVISE_HUGEPAGE="1") == "True"  # the user's choice
    assert advised(MALLOC_ARENA_MAX="8") == "True"  # glibc left alone: numpy too
