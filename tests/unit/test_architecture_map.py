"""docs/architecture.md names every package of the engine and every module of the plugins: a package added
without its line on the map fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
SCAFFOLD = ROOT / "deploycheck" / "templates"  # the files `init` writes: a team's repository, not the engine


def test_the_map_names_every_package_of_the_engine() -> None:
    packages = [
        path.parent
        for path in (ROOT / "deploycheck").rglob("__init__.py")
        if SCAFFOLD not in path.parents and path.parent != ROOT / "deploycheck"
    ]
    assert len(packages) >= 10
    missing = [str(package.relative_to(ROOT)) for package in packages if f"{package.name}/" not in MAP]
    assert not missing, f"docs/architecture.md does not name {missing}"


def test_the_map_names_every_data_folder_and_plugin() -> None:
    folders = [path for path in (ROOT / "deploycheck").iterdir() if path.is_dir() and path.name != "__pycache__"]
    assert not [folder.name for folder in folders if f"{folder.name}/" not in MAP]
    plugins = [path.stem for path in (ROOT / "plugins").glob("*.py") if path.stem not in ("__init__", "plugin")]
    assert not [name for name in plugins if name not in MAP]


def test_the_map_stays_one_page() -> None:
    assert len(MAP.splitlines()) <= 80
