"""Who allowed a change: an environment needs `--approve` before the suite changes anything there (a rollback, a
promotion, a flow that changes data), unless its file says `requires_approval: false`. The default is true, so a
file that forgot the key is guarded; a file that opted out is named in the verdict wherever it let something act.
"""

from __future__ import annotations

from pathlib import Path

from deploycheck.config.loader import Environment


def allowed_by(environment: Environment, approve: bool) -> str | None:
    """Why a change may go ahead here (for the verdict), or None when it needs --approve and has not got it."""
    if not environment.requires_approval:
        return not_required(environment)
    return "given: --approve" if approve else None


def not_required(environment: Environment) -> str:
    """`not required: environments/dev.yaml sets requires_approval: false`."""
    return f"not required: {shown(environment.source)} sets requires_approval: false"


def shown(path: Path) -> str:
    """The file as its user named it: relative to the working directory when it is below it."""
    absolute, here = Path(path).absolute(), Path.cwd()
    return str(absolute.relative_to(here)) if absolute.is_relative_to(here) else str(path)
