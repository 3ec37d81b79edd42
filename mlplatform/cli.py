"""``mlplatform``: plan offline, check the policy packs, report evidence, estimate cost, mirror.

Exit codes: 0 ok; 1 mandatory policy violations (unwaived) or a cost over a budget; 2 bad
configuration or usage (one line per problem, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def _default_program() -> Path:
    """Our own program when run from a checkout, else the current directory."""
    cwd = Path.cwd()
    if (cwd / "Pulumi.yaml").is_file():
        return cwd
    return REPO_ROOT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlplatform",
        description="Offline plan, policy check and mirror list for the sovereign ML platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def waivers_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--waivers",
            type=Path,
            default=None,
            help="waivers file (default: waivers.<stack>.yaml beside the program's "
            "Pulumi.<stack>.yaml, e.g. stacks/waivers.prod.yaml here)",
        )

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--stack", required=True, help="stack name (stacks/Pulumi.<stack>.yaml)"
        )
        command.add_argument(
            "--program",
            type=Path,
            default=None,
            help="folder of a Pulumi Python project (default: this repository)",
        )
        command.add_argument(
            "--preview",
            action="store_true",
            help="run the program as `pulumi preview` would for a new stack: outputs of "
            "resources being created are unknown (default: as `pulumi up` would)",
        )

    plan = commands.add_parser(
        "plan", help="run the Pulumi program offline; write plan.json and manifests"
    )
    common(plan)
    plan.add_argument(
        "--out", type=Path, default=None, help="output folder (default .mlplatform/<stack>)"
    )
    plan.add_argument("--format", choices=["text", "json"], default="text")

    policy = commands.add_parser(
        "policy", help="plan, then run every policy pack through the Analyzer protocol"
    )
    common(policy)
    policy.add_argument(
        "--pack",
        type=Path,
        action="append",
        default=None,
        help="policy pack folder (repeatable; default: all under policies/)",
    )
    policy.add_argument(
        "--config",
        type=Path,
        default=None,
        help="policy pack config JSON (the --policy-pack-config shape); never read from "
        "the checked program's folder",
    )
    policy.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    policy.add_argument(
        "--out", type=Path, default=None, help="also write plan.json and manifests here"
    )
    waivers_option(policy)

    report = commands.add_parser(
        "report", help="compliance evidence report: report.html, report.json, controls.csv"
    )
    common(report)
    report.add_argument(
        "--out", type=Path, default=None, help="output folder (default .mlplatform/<stack>/report)"
    )
    report.add_argument(
        "--baseline", type=Path, default=None, help="an earlier report folder: what is new, fixed"
    )
    report.add_argument("--pack", type=Path, action="append", default=None, help="as for policy")
    report.add_argument("--config", type=Path, default=None, help="as for policy")
    report.add_argument(
        "--frameworks",
        type=Path,
        default=None,
        help="controls mapping (default: policies/frameworks.yaml of this repository)",
    )
    report.add_argument("--usage", type=Path, default=None, help="usage assumptions (as for cost)")
    report.add_argument(
        "--registry",
        action="append",
        default=None,
        metavar="TENANT=URI",
        help="a tenant's model registry (folder or s3://bucket/prefix/; repeatable): adds "
        "the model lineage section",
    )
    report.add_argument(
        "--verify-key",
        action="append",
        default=None,
        metavar="TENANT=FILE",
        help="public key PEM to verify a tenant's models with (default: the plan's)",
    )
    waivers_option(report)

    cost = commands.add_parser(
        "cost", help="monthly cost estimate per tenant, tier and shared platform"
    )
    common(cost)
    cost.add_argument(
        "--usage", type=Path, default=None, help="usage assumptions merged over the defaults"
    )
    cost.add_argument(
        "--baseline", type=Path, default=None, help="an earlier `cost --format json` output"
    )
    cost.add_argument("--format", choices=["text", "json"], default="text")

    mirror = commands.add_parser(
        "mirror", help="list every image and chart the stack needs (for air-gapped mirroring)"
    )
    common(mirror)
    mirror.add_argument("--format", choices=["text", "json"], default="text")
    mirror.add_argument(
        "--copy",
        action="store_true",
        help="copy every upstream image into the registry it is planned from and write "
        "the digests to --lock (the program then references image@sha256:...)",
    )
    mirror.add_argument(
        "--lock",
        type=Path,
        default=None,
        help="image lock file (default: <program>/stacks/images.lock.json)",
    )
    mirror.add_argument(
        "--auth", type=Path, default=None, help="registry credentials (Docker config.json format)"
    )
    mirror.add_argument(
        "--plain-http",
        action="append",
        default=[],
        metavar="HOST",
        help="registry host spoken to without TLS (a local test registry)",
    )
    return parser


def _program(args: argparse.Namespace) -> Path:
    return Path(args.program or _default_program()).resolve()


def _warn_about_pins(program: Path) -> None:
    from mlplatform.engine.pins import version_warning

    warning = version_warning(program)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    from mlplatform.engine import plan_program

    program = _program(args)
    _warn_about_pins(program)
    return plan_program(program, args.stack, preview=args.preview)


def _policy_config_path(args: argparse.Namespace, program: Path) -> Path | None:
    """The policy config: ``--config``, else this blueprint's own file for the stack.

    Only the CI owner decides what the gate enforces: a config is never taken from the
    folder of the program being checked (it could ship ``{"all": "disabled"}``). This
    repository's own stacks keep theirs (``policies/<stack>.policy-config.json``).
    """
    if args.config is not None:
        return Path(args.config)
    own = REPO_ROOT / "policies" / f"{args.stack}.policy-config.json"
    if program == REPO_ROOT.resolve() and own.is_file():
        print(f"using policy config {own}", file=sys.stderr)
        return own
    return None


def _waivers_path(args: argparse.Namespace, program: Path) -> Path | None:
    """``--waivers FILE``, else the stack's own ``waivers.<stack>.yaml`` beside its stack file.

    Unlike a policy config (which could switch everything off unseen), waivers are kept
    with the stack they apply to and reviewed with it (CODEOWNERS): each names one rule and
    its resources, needs an approver and an expiry, and stays listed in every output. A
    CI owner who does not trust the checked folder's waivers passes ``--waivers`` (an
    empty file waives nothing).
    """
    from mlplatform.engine import EngineError
    from mlplatform.engine.stackfile import load_project

    if args.waivers is not None:
        return Path(args.waivers)
    try:
        project = load_project(program, args.stack)
    except EngineError:
        return None  # the plan reports the problem, one line
    own = project.stack_file.parent / f"waivers.{args.stack}.yaml"
    if own.is_file():
        print(f"using waivers {own}", file=sys.stderr)
        return own
    return None


def _load_waivers(args: argparse.Namespace, program: Path) -> list[Any]:
    from mlplatform.engine import UsageError
    from mlplatform.policy.waivers import WaiverError, load_waivers

    path = _waivers_path(args, program)
    if path is None:
        return []
    try:
        return load_waivers(path)
    except WaiverError as exc:
        raise UsageError(str(exc)) from None


def cmd_plan(args: argparse.Namespace) -> int:
    from mlplatform.engine.output import render_summary, write_outputs

    plan = _plan(args)
    out_dir = args.out or Path(".mlplatform") / args.stack
    plan_path, count = write_outputs(plan, out_dir)
    if args.format == "json":
        print(json.dumps(plan, indent=2))
    else:
        print(render_summary(plan, plan_path, count))
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from mlplatform.engine import UsageError
    from mlplatform.engine.isolated import plan_isolated
    from mlplatform.engine.output import write_outputs
    from mlplatform.policy import report as policy_report
    from mlplatform.policy import runner
    from mlplatform.policy.waivers import WaiverError, apply_waivers

    packs = args.pack or runner.discover_packs(REPO_ROOT / "policies")
    for pack in packs:
        if not (pack / "PulumiPolicy.yaml").is_file():
            raise UsageError(
                f"--pack {pack}: no PulumiPolicy.yaml there (not a policy pack folder)"
            )
    program = _program(args)
    config_path = _policy_config_path(args, program)
    try:
        config = runner.load_pack_config(config_path) if config_path else None
    except runner.PackError as exc:
        raise UsageError(str(exc)) from None
    waivers = _load_waivers(args, program)
    _warn_about_pins(program)
    # The program runs in a process of its own: nothing it does can change the verdict.
    plan = plan_isolated(program, args.stack, preview=args.preview)
    if args.out:
        write_outputs(plan, args.out)
    try:
        report = runner.run_packs(plan, packs, config)
        report = apply_waivers(report, waivers)
    except (runner.PackError, WaiverError) as exc:
        print(f"mlplatform policy: error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(policy_report.render_json(report), end="")
    elif args.format == "sarif":
        print(policy_report.render_sarif(report, plan), end="")
    else:
        print(policy_report.render_text(report), end="")
    return int(report.exit_code)


def cmd_cost(args: argparse.Namespace) -> int:
    from mlplatform.cost.estimate import (
        CostError,
        estimate_plan,
        load_baseline,
        load_usage,
        render_text,
    )
    from mlplatform.engine import UsageError
    from mlplatform.engine.isolated import plan_isolated

    try:
        usage = load_usage(args.usage)
        baseline = load_baseline(args.baseline) if args.baseline else None
    except CostError as exc:
        raise UsageError(str(exc)) from None
    program = _program(args)
    _warn_about_pins(program)
    plan = plan_isolated(program, args.stack, preview=args.preview)
    try:
        estimate = estimate_plan(plan, usage, baseline)
    except CostError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        print(json.dumps(estimate.to_dict(), indent=2))
    else:
        print(render_text(estimate), end="")
    for line in estimate.over_budget():
        print(f"over budget: {line}", file=sys.stderr)
    return estimate.exit_code


def cmd_report(args: argparse.Namespace) -> int:
    from mlplatform.engine import UsageError
    from mlplatform.report import ReportInputs, build_report
    from mlplatform.report.lineage import LineageError, parse_pairs

    try:
        registries = parse_pairs(args.registry, "--registry")
        verify_keys = parse_pairs(args.verify_key, "--verify-key")
    except LineageError as exc:
        raise UsageError(str(exc)) from None
    program = _program(args)
    config_path = _policy_config_path(args, program)
    frameworks = args.frameworks or REPO_ROOT / "policies" / "frameworks.yaml"
    inputs = ReportInputs(
        program=program,
        stack=args.stack,
        preview=args.preview,
        packs=args.pack,
        policy_root=REPO_ROOT / "policies",
        config_path=config_path,
        waivers_path=_waivers_path(args, program),
        frameworks_path=frameworks,
        usage_path=args.usage,
        baseline_dir=args.baseline,
        out_dir=args.out or Path(".mlplatform") / args.stack / "report",
        registries=registries,
        verify_keys=verify_keys,
    )
    _warn_about_pins(program)
    return build_report(inputs)


def cmd_mirror(args: argparse.Namespace) -> int:
    from mlplatform.mirror import (
        MirrorError,
        RegistryClient,
        artifacts_from_plan,
        load_credentials,
        mirror_images,
        render,
    )

    plan = _plan(args)
    artifacts = artifacts_from_plan(plan)
    if not args.copy:
        print(render(artifacts, args.format))
        return 0
    lock = args.lock or _program(args) / "stacks" / "images.lock.json"
    try:
        credentials = load_credentials(args.auth) if args.auth else {}
        outcomes = mirror_images(
            [a.ref for a in artifacts if a.kind == "image"],
            RegistryClient(credentials, plain_http=args.plain_http),
            lock,
        )
    except MirrorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        print(f"{outcome.image} {outcome.digest or '-'} {outcome.note}")
    missing = [o for o in outcomes if o.digest is None]
    print(f"# {len(outcomes) - len(missing)} locked in {lock}, {len(missing)} not", flush=True)
    return 1 if missing else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mlplatform`` console script."""
    from mlplatform.engine import EngineError

    args = _parser().parse_args(argv)
    handlers = {
        "plan": cmd_plan,
        "policy": cmd_policy,
        "mirror": cmd_mirror,
        "cost": cmd_cost,
        "report": cmd_report,
    }
    try:
        return handlers[args.command](args)
    except EngineError as exc:
        # Bad usage or configuration (UsageError), or a failed run (PlanError).
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and friends: not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
