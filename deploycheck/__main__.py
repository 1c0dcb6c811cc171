"""`python -m deploycheck`: work with the environment files without running any check.

schema [--write PATH]                    print the JSON Schema of an environment file, or write it for editors
validate [ENV ...] [--environments-dir DIR] [--flows-in DIR]  check files with their ${VAR}s and flows; exit 0, or 4
                                         with every error
kinds [--json] [--checks-in DIR]         list the kinds of evidence: where each comes from, its sections, probes
                                         and checks (built-in and installed; a conftest.py's only in a run)
reference                                print the key reference of docs/configuration.md
init [DIR]                               scaffold a team's repository (environments, checks, flows, CI snippets)
serve [--bind ADDR] [--token-env NAME]   answer rollout engines with verdicts over HTTP (docs/integrations.md)
merge PART ... [-o FILE]                 merge the verdicts of shards (an Indexed Job) into one; exit as it says
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from deploycheck.config.loader import ConfigError, available_environments, load_environment
from deploycheck.config.reference import reference
from deploycheck.config.schema import SCHEMA_NAME, modeline, schema_text, write_schema
from deploycheck.evidence.catalogue import as_text, built_in_check_folders, catalogue
from deploycheck.evidence.registry import REGISTRY, KindError, add_installed
from deploycheck.flows import check as flow_check
from deploycheck.kinds.metrics.selector_warnings import selector_warnings
from deploycheck.serve.merge import merge_files
from deploycheck.serve.scaffold import scaffold
from deploycheck.serve.server import add_serve_arguments, serve_forever

DEFAULT_FLOW_FOLDERS = ("checks", "smoke")  # the test paths `init` writes
USAGE_ERROR = 4  # as pytest's exit status for a bad configuration, so pipelines read both the same way


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploycheck", description="deploycheck's environment files")
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("schema", help="Print the JSON Schema of an environment file, or write it")
    schema.add_argument(
        "--write",
        metavar="PATH",
        help="Write it to PATH (a folder: PATH/environment-v1.schema.json) and print the line that points the "
        "environment files at it",
    )
    schema.add_argument(
        "--environments-dir",
        metavar="DIR",
        help="Where the environment files are, for that line (default: $DEPLOYCHECK_ENVIRONMENTS_DIR, else "
        "./environments if it exists, else the schema's folder)",
    )
    validate = commands.add_parser("validate", help="Check environment files, with their ${VAR}s, and exit 0 or 4")
    validate.add_argument("environments", nargs="*", metavar="ENV", help="Environments to check (default: all)")
    validate.add_argument(
        "--environments-dir",
        metavar="DIR",
        help="Directory of the environment files (default: $DEPLOYCHECK_ENVIRONMENTS_DIR, else ./environments)",
    )
    validate.add_argument(
        "--flows-in",
        action="append",
        metavar="DIR",
        help="Where the team's Python flows are (test_*.py; repeatable; default: ./checks and ./smoke)",
    )
    kinds = commands.add_parser("kinds", help="List the kinds of evidence, where each comes from, its sections, checks")
    kinds.add_argument("--json", action="store_true", help="As JSON, for machines")
    kinds.add_argument(
        "--checks-in",
        action="append",
        metavar="DIR",
        help="Where the team's checks are (test_*.py, read, not run; repeatable; default: ./checks and ./smoke), "
        "beside the suite's own",
    )
    commands.add_parser("reference", help="Print the key reference of docs/configuration.md")
    init = commands.add_parser("init", help="Scaffold a team's repository that runs deploycheck as a pytest plugin")
    init.add_argument("directory", nargs="?", default=".", metavar="DIR", help="Where (default: here)")
    serve = commands.add_parser("serve", help="Answer rollout engines (Argo Rollouts, Flagger) with verdicts")
    add_serve_arguments(serve)
    merge = commands.add_parser("merge", help="Merge shards' verdict files into one; exit with its status")
    merge.add_argument("parts", nargs="+", metavar="PART", help="verdict.json of each shard")
    merge.add_argument("-o", "--output", default="reports/verdict.json", metavar="FILE", help="The merged verdict")
    merge.add_argument("--shards", type=int, metavar="N", help="How many parts there must be (missing: INCONCLUSIVE)")
    arguments = parser.parse_args(argv)

    if arguments.command in ("schema", "validate", "kinds"):
        try:
            add_installed(REGISTRY)  # the sections of installed kinds are in the schema, and validated
        except KindError as error:
            print(error, file=sys.stderr)
            return USAGE_ERROR
    if arguments.command == "kinds":
        return list_kinds(arguments)
    if arguments.command == "schema":
        if arguments.write:
            return write_schema_for_editors(arguments)
        sys.stdout.write(schema_text())
        return 0
    if arguments.command == "reference":
        sys.stdout.write(reference())
        return 0
    if arguments.command == "init":
        return init_repository(Path(arguments.directory))
    if arguments.command == "serve":
        return serve_forever(arguments)
    if arguments.command == "merge":
        return merge_files([Path(part) for part in arguments.parts], Path(arguments.output), arguments.shards)
    directory = Path(arguments.environments_dir or os.environ.get("DEPLOYCHECK_ENVIRONMENTS_DIR") or "environments")
    flows_in = [Path(folder) for folder in arguments.flows_in or DEFAULT_FLOW_FOLDERS]
    return validate_files(directory, arguments.environments, flows_in)


def list_kinds(arguments: argparse.Namespace) -> int:
    folders = [*built_in_check_folders(), *(Path(folder) for folder in arguments.checks_in or DEFAULT_FLOW_FOLDERS)]
    kinds = catalogue(REGISTRY, folders)
    sys.stdout.write(json.dumps({"kinds": kinds}, indent=2) + "\n" if arguments.json else as_text(kinds))
    return 0


def validate_files(directory: Path, names: Sequence[str], flows_in: Sequence[Path] = ()) -> int:
    """Load each environment as a run of all its services would, and check its flows against the Python flows (the
    built-in ones, and those in `flows_in`); print each result; 0 if all are good, else 4."""
    python_flows = {**flow_check.python_flows(flows_in), **flow_check.built_in_flows()}
    names = list(names) or available_environments(directory)
    if not names:
        print(f"no environment files (*.yaml) in {directory}", file=sys.stderr)
        return USAGE_ERROR
    failed = 0
    for name in names:
        try:
            environment = load_environment(directory, name, python_flows=python_flows)
        except ConfigError as error:
            failed += 1
            print(error, file=sys.stderr)
            continue
        print(f"{environment.source}: ok ({len(environment.services)} services: {', '.join(environment.services)})")
        for warning in selector_warnings(environment):
            print(f"{environment.source}: warning: {warning}", file=sys.stderr)
    return USAGE_ERROR if failed else 0


def write_schema_for_editors(arguments: argparse.Namespace) -> int:
    """`schema --write PATH`: the schema where a team's environment files can point at it, and the line to use."""
    try:
        written = write_schema(Path(arguments.write))
    except OSError as error:
        print(f"cannot write the schema to {arguments.write}: {error.strerror or error}", file=sys.stderr)
        return USAGE_ERROR
    named = arguments.environments_dir or os.environ.get("DEPLOYCHECK_ENVIRONMENTS_DIR")
    environments = Path(named) if named else Path("environments") if Path("environments").is_dir() else written.parent
    print(f"wrote {written}")
    print(f"start each environment file in {environments} with this line, for editors to complete and check keys:")
    print(modeline(written, environments))
    return 0


def init_repository(directory: Path) -> int:
    written, kept = scaffold(directory)
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        stale = path.name == SCHEMA_NAME and path.read_text(encoding="utf-8", errors="replace") != schema_text()
        refresh = f"; it is not this deploycheck's schema: python -m deploycheck schema --write {path}" if stale else ""
        print(f"kept {path} (it exists{refresh})")
    print(f"next: cd {directory} && pytest   (checks the bundled demo of environments/local.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
