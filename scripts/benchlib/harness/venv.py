"""The bench venv (``.bench-venv`` by default): created once and reused, what is installed in
it, and pip installs that say which requirement failed and why."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .common import last_error_line, log


class BenchVenv:
    """The benchmark's own virtual environment and what is installed in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"
        self._dists: dict[str, str] | None = None

    def bin(self, name: str) -> Path:
        """A script or binary in the venv's bin directory."""
        return self.path / "bin" / name

    def create(self, base_python: str) -> None:
        """Create the venv unless it exists (an existing one is reused)."""
        if self.python.exists():
            log(f"reusing bench venv {self.path}")
        else:
            log(f"creating bench venv {self.path} with {base_python}")
            subprocess.run([base_python, "-m", "venv", str(self.path)], check=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by scripts/bench: keep the bench venv out of git\n*\n")

    def pip_install(self, *args: str) -> tuple[bool, str]:
        """Run pip install; return (ok, combined output)."""
        argv = [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", *args]
        log("pip install " + " ".join(args))
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        self._dists = None
        return proc.returncode == 0, proc.stdout + proc.stderr

    def distributions(self) -> dict[str, str]:
        """Installed distribution names (normalised) and versions."""
        if self._dists is None:
            code = (
                "import importlib.metadata as m, json\n"
                "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
            )
            out = subprocess.run(
                [str(self.python), "-c", code], capture_output=True, text=True, check=True
            ).stdout
            self._dists = {normalise(k): v for k, v in json.loads(out).items()}
        return self._dists

    def has(self, requirement: str) -> bool:
        """Whether the distribution behind a requirement ("smart_open[s3]") is installed."""
        return normalise(requirement.split("[", 1)[0]) in self.distributions()

    def ensure(self, requirements: Sequence[str], *, upgrade: bool) -> dict[str, str]:
        """Install what is missing; return {requirement: why it failed}."""
        wanted = list(dict.fromkeys(requirements))
        missing = [r for r in wanted if upgrade or not self.has(r)]
        if not missing:
            return {}
        flags = ["--upgrade"] if upgrade else []
        ok, _ = self.pip_install(*flags, *missing)
        if ok:
            return {}
        errors: dict[str, str] = {}
        for requirement in missing:
            ok, output = self.pip_install(*flags, requirement)
            if not ok:
                errors[requirement] = "pip install failed: " + last_error_line(output)
        return errors


def normalise(name: str) -> str:
    """PEP 503 normalisation of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()
