"""The README's "Use from Python" code blocks run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end != -1 else None], flags=re.S)


def test_the_section_has_code():
    assert len(python_blocks("Use from Python")) >= 2


@pytest.mark.slow
def test_use_from_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.setenv("SEAFLOORHMC_DATA", str(tmp_path / "cache"))
    namespace: dict = {}
    for block in python_blocks("Use from Python"):
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert (tmp_path / "runs" / "python-demo" / "metrics.json").is_file()
    assert len(namespace["rows"]) == 60
