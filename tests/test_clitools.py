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
         "    chunk = [np.ones(3 << 18) for _ in range(4)]  # 4 x 6 MiB, below numpy's huge pages\n"
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
    in once (measured: 2,043 faults against 101,265), not in every round: by default glibc hands the freed
    24 MiB back to the kernel each time (its trim threshold is twice the largest array freed)."""
    said, faults = _probe()
    assert said == "True"
    said_default, faults_default = _probe(MALLOC_ARENA_MAX="8")  # a user's MALLOC_* variable: left alone
    assert said_default == "False"
    assert faults < 20_000 and 20 * faults < faults_default, (faults, faults_default)


def test_only_the_command_line_sets_it() -> None:
    """Importing the package or calling main() never changes the host's allocator."""
    import socialbias.eval as ev

    source = open(ev.__file__, encoding="utf-8").read()
    assert source.count("retain_freed_memory()") == 1
    assert source.index("retain_freed_memory()") > source.index('if __name__ == "__main__":')


ARROW_PROBE = ("import pyarrow as pa\n"
               "from socialbias.clitools import retain_freed_memory\n"
               "retain_freed_memory()\n"
               "print(pa.default_memory_pool().backend_name)\n")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_arrow_allocates_from_glibc_unless_the_user_chose() -> None:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "ARROW_DEFAULT_MEMORY_POOL")}

    def backend(**env: str) -> str:
        return subprocess.run([sys.executable, "-c", ARROW_PROBE], env={**clean, **env}, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert backend() == "system"
    assert backend(ARROW_DEFAULT_MEMORY_POOL="jemalloc") == "jemalloc"
    assert backend(MALLOC_ARENA_MAX="8") != "system"  # glibc left alone: Arrow too
