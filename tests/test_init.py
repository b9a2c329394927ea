"""The package's public API: every exported name resolves, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import lookalike


def test_every_public_name_resolves_to_its_module() -> None:
    for name in lookalike.__all__:
        value = getattr(lookalike, name)
        if name != "__version__":
            assert value.__module__ == f"lookalike.{lookalike._EXPORTS[name]}", name


def test_compare_images_is_the_function_even_after_its_module_is_imported() -> None:
    import lookalike.compare

    assert lookalike.compare_images is lookalike.compare.compare


def test_all_lists_exactly_the_exports() -> None:
    assert set(lookalike.__all__) == {*lookalike._EXPORTS, "__version__"}


def test_import_does_not_load_torch() -> None:
    code = "import sys, lookalike; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        lookalike.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")
