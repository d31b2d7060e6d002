"""The benchmark behind ``scripts/bench``, as the package ``benchlib`` (``scripts/`` on the path).

- ``harness/``: the benchmark itself (``scripts/bench`` runs ``python scripts/benchlib/harness``);
- ``discard_server/``: the local S3 endpoint the tools upload to, run in its own process
  (``python scripts/benchlib/discard_server``, by the harness and ``scripts/soak``);
- ``compression.py``, ``mountbench.py``: the compression and mount tables' pipelines, imported
  by the harness;
- ``drivers.py``, ``floor.py``, ``nullfs.py`` (and ``nullfs.c``): what the bench venv runs by
  path as a tool or a filesystem. They import nothing from this package, and every file here is
  importable by its bare name in their processes (their directory is ``sys.path[0]``): keep its
  top-level names few and unlike anything a tool imports.
"""
