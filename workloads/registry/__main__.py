"""``python -m workloads.registry``: read and change a tenant's model registry by hand.

The registry (:mod:`workloads.registry.index`) is one JSON index per model in the tenant
bucket (``s3://<bucket>/registry/``). SMB models have no canary: their retrained
challenger waits there for a person to promote or reject it; enterprise operators use
the same commands to decide a canary by hand. Every change records who (``--who``,
default the login name) and when in the model's history.

Commands::

    list     --registry URI                              models, champion, challenger
    show     --registry URI MODEL                        the model's index (JSON)
    promote  --registry URI MODEL VERSION --why TEXT     challenger -> champion
    rollback --registry URI MODEL VERSION --why TEXT     challenger -> rolled-back

Writes are SSE-KMS with ``--kms_key`` (the tenant key) on S3. The serving side follows
the registry: the tenant's retraining controller points the model's InferenceService
at the champion the registry names.

Exit codes: 0 done; 1 the change does not fit the registry (e.g. VERSION is not the
challenger) or the store failed; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

from workloads.common.objectstore import ObjectStoreError, open_store
from workloads.registry.index import ModelRegistry, RegistryError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.registry",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--registry", required=True, help="s3://bucket/registry/ or a folder")
    common.add_argument("--kms_key", default=None, help="tenant key for writes (SSE-KMS)")
    common.add_argument("--who", default=None, help="who is acting (default: login name)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[common], help="models with champion and challenger")
    show = sub.add_parser("show", parents=[common], help="a model's index as JSON")
    show.add_argument("model")
    for name, text in (("promote", "challenger -> champion"), ("rollback", "reject challenger")):
        change = sub.add_parser(name, parents=[common], help=text)
        change.add_argument("model")
        change.add_argument("version")
        change.add_argument("--why", required=True, help="the reason (kept in the history)")
    return p


def _who(given: str | None) -> str:
    if given:
        return given
    try:
        return f"{getpass.getuser()} (registry CLI)"
    except (KeyError, OSError):
        return "registry CLI"


def _summary(index: dict[str, Any]) -> dict[str, Any]:
    last = index["history"][-1] if index["history"] else {}
    return {
        "model": index["model"],
        "champion": index.get("champion"),
        "challenger": index.get("challenger"),
        "versions": len(index["versions"]),
        "last_change": {k: last.get(k) for k in ("at", "who", "what", "version")} if last else None,
    }


def run(args: argparse.Namespace) -> int:
    """Execute one command; print JSON on stdout."""
    registry = ModelRegistry(open_store(args.registry, args.kms_key), who=_who(args.who))
    if args.command == "list":
        models = sorted(
            key.removesuffix(".json")
            for key in registry.store.list("")
            if key.endswith(".json") and "/" not in key
        )
        print(json.dumps([_summary(registry.load(m)) for m in models], indent=1))
        return 0
    if args.command == "show":
        index = registry.load(args.model)
        if not index["versions"]:
            raise RegistryError(f"{args.model}: no such model in {args.registry}")
        print(json.dumps(index, indent=1, sort_keys=True))
        return 0
    if not args.why.strip():
        raise ValueError("--why: give a reason (it is kept in the model's history)")
    change = registry.promote if args.command == "promote" else registry.roll_back
    index = change(args.model, args.version, args.why.strip())
    print(json.dumps(_summary(index)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and turn errors into one line and an exit code."""
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except ValueError as exc:
        if isinstance(exc, RegistryError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ObjectStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
