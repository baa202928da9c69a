"""Sphinx configuration of the API reference, generated from the package's docstrings.

Build: ``python -m sphinx -W --keep-going -b html docs/api build/api`` (the CI does; a test checks it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import seafloorhmc  # noqa: E402

project = "seafloorhmc"
release = version = seafloorhmc.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource",
                           "ignore-module-all": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
suppress_warnings = ["autosummary.import_cycle"]
napoleon_use_ivar = True  # NamedTuple/dataclass fields listed once, not once per field and once per Attributes entry
html_theme = "alabaster"
html_title = f"seafloorhmc {release} API"
exclude_patterns = ["_build", "generated/*.tmp"]
