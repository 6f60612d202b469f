"""hashtune installs like a library: a built wheel in a clean venv, without the dev extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_wheel_installs_and_runs_a_study_without_torch_or_ray(tmp_path: Path) -> None:
    """Needs PyPI (or a pip cache) for the runtime dependencies."""
    wheels = tmp_path / "whl"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = wheels.glob("hashtune-*.whl")
    venv = tmp_path / "v"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=900)
    out = subprocess.run(
        [str(venv / "bin" / "python"), str(ROOT / "tests" / "fixtures" / "installed_smoke.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stdout + out.stderr
    cli = subprocess.run(
        [str(venv / "bin" / "hashtune"), "studies", "--storage", "sqlite:///installed.db"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0 and "installed" in cli.stdout, cli.stdout + cli.stderr
