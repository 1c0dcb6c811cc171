"""`python -m deploycheck`: work with the environment files without running any check.

schema                                   print the JSON Schema of an environment file
validate [ENV ...] [--environments-dir DIR]  check files with their ${VAR}s; exit 0, or 4 with every error
reference                                print the key reference of docs/configuration.md
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from deploycheck.config import ConfigError, available_environments, load_environment
from deploycheck.config_reference import reference
from deploycheck.config_schema import schema_text

USAGE_ERROR = 4  # as pytest's exit status for a bad configuration, so pipelines read both the same way


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploycheck", description="deploycheck's environment files")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("schema", help="Print the JSON Schema of an environment file")
    validate = commands.add_parser("validate", help="Check environment files, with their ${VAR}s, and exit 0 or 4")
    validate.add_argument("environments", nargs="*", metavar="ENV", help="Environments to check (default: all)")
    validate.add_argument(
        "--environments-dir",
        metavar="DIR",
        help="Directory of the environment files (default: $DEPLOYCHECK_ENVIRONMENTS_DIR, else ./environments)",
    )
    commands.add_parser("reference", help="Print the key reference of docs/configuration.md")
    arguments = parser.parse_args(argv)

    if arguments.command == "schema":
        sys.stdout.write(schema_text())
        return 0
    if arguments.command == "reference":
        sys.stdout.write(reference())
        return 0
    directory = Path(arguments.environments_dir or os.environ.get("DEPLOYCHECK_ENVIRONMENTS_DIR") or "environments")
    return validate_files(directory, arguments.environments)


def validate_files(directory: Path, names: Sequence[str]) -> int:
    """Load each environment as a run of all its services would; print each result; 0 if all are good, else 4."""
    names = list(names) or available_environments(directory)
    if not names:
        print(f"no environment files (*.yaml) in {directory}", file=sys.stderr)
        return USAGE_ERROR
    failed = 0
    for name in names:
        try:
            environment = load_environment(directory, name)
        except ConfigError as error:
            failed += 1
            print(error, file=sys.stderr)
            continue
        print(f"{environment.source}: ok ({len(environment.services)} services: {', '.join(environment.services)})")
    return USAGE_ERROR if failed else 0


if __name__ == "__main__":
    sys.exit(main())
