"""`python -m deploycheck init [DIR]`: a team's repository that runs deploycheck as a pytest plugin.

It holds the team's environments (with the editor's schema line), an example check and an example flow that run
beside the built-in ones, a pytest.ini naming `deploycheck_env`, and the engines' snippets (GitLab CI, a GitHub
Actions composite action, Tekton, Argo Rollouts, Flagger, Kubernetes Jobs). Existing files are never overwritten.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from deploycheck.config.schema import schema_text

TEMPLATES = Path(__file__).parents[1] / "templates" / "init"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = "environments/environment-v1.schema.json"  # the `$schema` line of the environment files points here
# Snippets of integrations/ that the engines read from a fixed place in the repository; the rest goes to ci/.
NATIVE_PLACES = {
    "gitlab/deploycheck.gitlab-ci.yml": ".gitlab-ci.yml",
    "github/action.yml": ".github/actions/deploycheck/action.yml",
    "github/workflow.yml": ".github/workflows/deploycheck.yml",
}


def integrations_dir() -> Path:
    """The shipped engine snippets: the installed package, else the checkout's integrations/."""
    spec = importlib.util.find_spec("deploycheck_integrations")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    return Path(locations[0]) if locations else PROJECT_ROOT / "integrations"


def planned_files() -> dict[str, Path | str]:
    """Relative path in the new repository -> the file it is copied from (or its text)."""
    files: dict[str, Path | str] = {}
    for source in sorted(TEMPLATES.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            files[source.relative_to(TEMPLATES).as_posix()] = source
    files[SCHEMA_FILE] = schema_text()
    snippets = integrations_dir()
    for source in sorted(snippets.rglob("*")):
        relative = source.relative_to(snippets).as_posix()
        if source.is_file() and "__pycache__" not in source.parts and not relative.endswith(".py"):
            files[NATIVE_PLACES.get(relative, f"ci/{relative}")] = source
    return files


def scaffold(directory: Path) -> tuple[list[Path], list[Path]]:
    """Write the repository's files into directory; returns (written, kept because they already existed)."""
    written, kept = [], []
    for relative, source in planned_files().items():
        target = directory / relative
        if target.exists():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            shutil.copyfile(source, target)
        else:
            target.write_text(source, encoding="utf-8")
        written.append(target)
    return written, kept
