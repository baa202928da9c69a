"""Lazy package attributes: loaded on first use, once, and listed before they load."""

import sys
import types

import pytest

from seafloorhmc.utils.lazy import lazy_attributes


def test_a_name_loads_its_module_on_first_use_and_stays(monkeypatch):
    package = types.ModuleType("fakepkg")
    monkeypatch.setitem(sys.modules, "fakepkg", package)
    package.__path__ = []  # a package, so relative names resolve against it
    module = types.ModuleType("fakepkg.inner")
    module.answer = 42
    monkeypatch.setitem(sys.modules, "fakepkg.inner", module)
    namespace = vars(package)
    getattr_, dir_ = lazy_attributes("fakepkg", {"answer": ".inner", "join": "os.path"}, namespace)
    assert "answer" in dir_() and "answer" not in namespace, "listed before it loads"
    assert getattr_("answer") == 42 and namespace["answer"] == 42, "stored once loaded"
    import os.path

    assert getattr_("join") is os.path.join, "absolute module names work too"
    with pytest.raises(AttributeError, match="module 'fakepkg' has no attribute 'missing'"):
        getattr_("missing")
