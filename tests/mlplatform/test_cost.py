"""``mlplatform cost``: per-tenant figures from the plan, unknown prices never $0, budgets.

A small team program (tenant tags, one shared resource, a type without a price, spot
capacity without a spot price, exported budgets) is planned and priced from the shipped
me-central-1 data; then this blueprint's prod stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplatform.cli import REPO_ROOT, main
from mlplatform.cost.estimate import SHARED, CostError, load_prices, load_usage

ProgramWriter = Callable[..., Path]

TEAM = """
import pulumi
import pulumi_aws as aws

def box(name, kind, tenant):
    return aws.ec2.Instance(name, ami="ami-0123456789abcdef0", instance_type=kind,
                            tags={"tenant": tenant})

box("alpha-api", "m6i.xlarge", "alpha")        # priced: on-demand, all month
box("beta-api", "c7i.xlarge", "beta")          # offered, but no price in the data
box("ops-bastion", "m6i.large", "platform")    # the shared platform
aws.eks.NodeGroup("beta-train", cluster_name="c", node_role_arn="arn:aws:iam::1:role/r",
    subnet_ids=["subnet-1"], instance_types=["p5en.48xlarge"], capacity_type="SPOT",
    scaling_config={"desired_size": 1, "min_size": 0, "max_size": 2},
    tags={"tenant": "beta"})
aws.s3.Bucket("alpha-data", tags={"tenant": "alpha"})
aws.eks.NodeGroup("gamma-batch", cluster_name="c", node_role_arn="arn:aws:iam::1:role/r",
    subnet_ids=["subnet-1"], instance_types=["m6i.large"], capacity_type="SPOT",
    scaling_config={"desired_size": 1, "min_size": 0, "max_size": 2},
    tags={"tenant": "gamma"})
pulumi.export("costBudgets", {"tenants": {"alpha": BUDGET, "beta": 100000}, "tiers": {}})
"""


def _team(program: ProgramWriter, budget: float) -> Path:
    return program(TEAM.replace("BUDGET", repr(budget)), region="me-central-1")


def _cost(prog: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any]:
    code = main(["cost", "--stack", "test", "--program", str(prog), "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def _item(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in document["items"] if item["name"] == name)


def test_tenants_are_priced_from_the_data_and_add_up_to_the_total(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _cost(_team(program, 10000), capsys)
    assert code == 0
    prices = load_prices("me-central-1")
    hourly = prices.instance_types["m6i.xlarge"]["on_demand_usd_hour"]
    alpha = _item(document, "alpha-api")
    assert alpha["status"] == "priced" and alpha["tenant"] == "alpha"
    assert alpha["monthlyUsd"] == pytest.approx(hourly * 730, abs=0.01)
    assert alpha["pricing"] == "on-demand"
    assert _item(document, "ops-bastion")["tenant"] == SHARED
    owners = [entry["pricedUsd"] for entry in document["tenants"].values()]
    assert sum(owners) + document["shared"]["pricedUsd"] == pytest.approx(
        document["total"]["pricedUsd"], abs=0.02
    )
    assert document["shared"]["pricedUsd"] > 0
    assert document["priceData"]["researchDate"]


def test_spot_is_priced_from_spot_prices_not_on_demand(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    _, document = _cost(_team(program, 10000), capsys)
    batch = _item(document, "gamma-batch")
    by_zone = load_prices("me-central-1").instance_types["m6i.large"]["spot_usd_hour_by_az"]
    spot = sum(by_zone.values()) / len(by_zone)
    assert batch["status"] == "priced" and batch["pricing"] == "spot"
    assert batch["monthlyUsd"] == pytest.approx(spot * 730, abs=0.01)
    assert document["total"]["byPricing"]["spot"] == pytest.approx(spot * 730, abs=0.01)


def test_a_type_without_a_price_is_unpriced_never_zero(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    _, document = _cost(_team(program, 10000), capsys)
    beta = _item(document, "beta-api")
    assert beta["status"] == "unpriced"
    assert beta["monthlyUsd"] is None
    assert "c7i.xlarge: no on-demand price" in beta["detail"]
    # Spot capacity where the data has no spot price: unpriced, not priced at on-demand.
    train = _item(document, "beta-train")
    assert train["status"] == "unpriced" and train["monthlyUsd"] is None
    assert "no spot price" in train["detail"] and "not priced at on-demand" in train["detail"]
    assert document["tenants"]["beta"]["pricedUsd"] == 0
    assert document["tenants"]["beta"]["unpricedItems"] >= 2
    # Services whose region price is unknown are unpriced too, with the assumed quantity.
    bucket = _item(document, "alpha-data")
    assert bucket["status"] == "unpriced" and "s3_standard_per_gb_month" in bucket["detail"]


def test_a_budget_below_the_estimate_exits_1_naming_the_tenant(
    program: ProgramWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = _team(program, 50)
    code = main(["cost", "--stack", "test", "--program", str(prog)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "OVER BUDGET: tenant alpha: estimate $171.84/month exceeds its budget $50.00" in out
    assert "tenant alpha" in err and "beta" not in err


def test_usage_file_changes_the_assumption_and_bad_usage_is_exit_2(
    program: ProgramWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage.yaml"
    usage.write_text(yaml.safe_dump({"hours_per_month": 200}))
    code, document = _cost(_team(program, 10000), capsys, "--usage", str(usage))
    assert code == 0
    hourly = load_prices("me-central-1").instance_types["m6i.xlarge"]["on_demand_usd_hour"]
    assert _item(document, "alpha-api")["monthlyUsd"] == pytest.approx(hourly * 200, abs=0.01)

    usage.write_text(yaml.safe_dump({"hours_per_month": 9999}))
    code = main(
        ["cost", "--stack", "test", "--program", str(_team(program, 1)), "--usage", str(usage)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"error: {usage}: hours_per_month: 9999 out of range; allowed: 1..744"


def test_baseline_shows_the_difference(
    program: ProgramWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = _team(program, 10000)
    _, before = _cost(prog, capsys)
    before["tenants"]["alpha"]["pricedUsd"] = 100.0
    before["total"]["pricedUsd"] -= 71.84
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps(before))
    code = main(["cost", "--stack", "test", "--program", str(prog), "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert code == 0
    assert "alpha: $100.00 -> $171.84 (+71.84)" in out
    baseline.write_text("{}")
    assert (
        main(["cost", "--stack", "test", "--program", str(prog), "--baseline", str(baseline)]) == 2
    )


def test_the_shipped_usage_file_is_valid_and_documented() -> None:
    usage = load_usage()
    assert usage["hours_per_month"] == 730
    assert "tenant" in usage["attribution"]["tenant_keys"]
    with pytest.raises(CostError, match="no price data for region 'xx-east-9'"):
        load_prices("xx-east-9")


def test_prod_every_tenant_has_a_figure_and_the_parts_add_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["cost", "--stack", "prod", "--program", str(REPO_ROOT), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document["overBudget"]
    stack = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    tenants = {t["name"]: t["tier"] for t in stack["config"]["sovereign-ml-platform:tenants"]}
    assert set(document["tenants"]) == set(tenants)
    for name, tier in tenants.items():
        assert document["tenants"][name]["tier"] == tier
        assert document["tenants"][name]["budgetUsd"] is not None
    parts = sum(entry["pricedUsd"] for entry in document["tenants"].values())
    assert parts + document["shared"]["pricedUsd"] == pytest.approx(
        document["total"]["pricedUsd"], abs=0.05
    )
    assert set(document["tiers"]) == set(tenants.values())
    assert all(tier["budgetUsd"] is not None for tier in document["tiers"].values())
    # Region service prices are unknown in the shipped data: listed, not zero.
    eks = next(i for i in document["items"] if i["type"] == "aws:eks/cluster:Cluster")
    assert eks["status"] == "unpriced" and eks["tenant"] == SHARED
    assert all(
        item["monthlyUsd"] is None for item in document["items"] if item["status"] == "unpriced"
    )


@pytest.fixture(scope="module")
def blueprint_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This blueprint's program in a folder of its own, for stack files a test may change."""
    import shutil

    root = tmp_path_factory.mktemp("blueprint")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("components", "contracts", "stacks"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=ignore)
    shutil.copy(REPO_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    return root


def _set_prod(root: Path, tenant_budget: Any, tier_budgets: Any) -> None:
    path = root / "stacks" / "Pulumi.prod.yaml"
    stack = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    config = stack["config"]
    for tenant in config["sovereign-ml-platform:tenants"]:
        if tenant["name"] == "gulf-bank":
            tenant.setdefault("overrides", {})["monthly_budget_usd"] = tenant_budget
    config["sovereign-ml-platform:tier_budgets_usd"] = tier_budgets
    path.write_text(yaml.safe_dump(stack))


def test_budgets_from_the_settings_exit_1_naming_the_tenant_and_the_tier(
    blueprint_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_prod(blueprint_copy, 100, {"enterprise": 500, "smb": 5000})
    code = main(["cost", "--stack", "prod", "--program", str(blueprint_copy)])
    out, err = capsys.readouterr()
    assert code == 1
    over = [line for line in err.splitlines() if line.startswith("over budget:")]
    assert len(over) == 2, err
    assert over[0].startswith("over budget: tenant gulf-bank: estimate $")
    assert over[0].endswith("exceeds its budget $100.00")
    assert over[1].startswith("over budget: tier enterprise (emirates-health, gulf-bank)")
    assert "tenant souk-analytics" not in err and "tier smb" not in err
    assert "OVER BUDGET: tenant gulf-bank" in out


def test_a_negative_budget_is_a_configuration_error(
    blueprint_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_prod(blueprint_copy, -5, {})
    code = main(["cost", "--stack", "prod", "--program", str(blueprint_copy)])
    err = capsys.readouterr().err
    assert code == 2
    assert "monthly_budget_usd" in err and "Traceback" not in err
