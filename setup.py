"""Packaging: everything installs under the one top-level name ``socialbias``.

The repository keeps the stages visible at its top (``socialbias/``, ``bbq_adapters/``,
``metrics/``), but ``bbq_adapters`` and ``metrics`` install as ``socialbias.bbq_adapters`` and
``socialbias.metrics`` (a ``package_dir`` mapping), so a user's own ``metrics.py`` next to a
notebook cannot shadow them. The rest of the metadata lives in setup.cfg.
"""

from setuptools import find_packages, setup

#: installed name -> folder in the repository
MAPPED = {"socialbias.metrics": "metrics", "socialbias.bbq_adapters": "bbq_adapters"}

packages = find_packages(include=["socialbias", "socialbias.*"])
package_dir: dict[str, str] = {}
for name, folder in MAPPED.items():
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(where=folder)]
    package_dir[name] = folder

setup(packages=packages, package_dir=package_dir)
