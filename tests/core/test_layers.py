"""The layer contracts of pyproject.toml ``[tool.importlinter]`` hold: no import points up a layer (say
``cts.data`` importing ``cts.training``), no library module imports ``cts.reports``, and no two modules or packages of
one package import each other, directly or in a circle."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_imports_keep_the_layer_contracts():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, \
        "an import breaks a contract of pyproject.toml [tool.importlinter] (the report is printed above)"
