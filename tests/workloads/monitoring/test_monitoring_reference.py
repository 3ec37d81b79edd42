"""Reference statistics: builder invariants, round trip and one-line errors on bad files."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from workloads.monitoring.reference import (
    ReferenceStatsError,
    bin_index,
    build_reference,
    canonical_categories,
    load_reference,
    save_reference,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 5_000
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, n),
            "age": rng.integers(18, 80, n),
            "const": np.full(n, 2.5),
            "channel": rng.choice(["web", "app", "branch"], n, p=[0.5, 0.3, 0.2]),
            "region_code": rng.choice([1, 2, 3], n),
        }
    )


def test_numeric_bins_are_quantiles_and_expected_matches_binning(frame: pd.DataFrame) -> None:
    ref = build_reference(frame, ["amount", "age"], ["channel"], bins=10, sample_size=1_000)
    amount = ref["features"]["amount"]
    assert amount["kind"] == "numeric"
    assert len(amount["bin_edges"]) == 11
    # Continuous data: equal-mass bins.
    assert np.allclose(amount["expected"], 0.1, atol=0.002)
    assert amount["min"] == pytest.approx(frame["amount"].min())
    assert amount["max"] == pytest.approx(frame["amount"].max())
    assert amount["std"] == pytest.approx(frame["amount"].std(ddof=0))
    # Integer data with ties: edges deduplicated, fractions still from the shared rule.
    age = ref["features"]["age"]
    counts = np.bincount(bin_index(frame["age"].to_numpy(), age["bin_edges"]))
    assert np.allclose(age["expected"], counts / len(frame))
    assert sum(age["expected"]) == pytest.approx(1.0)


def test_sample_is_seeded_sorted_and_bounded(frame: pd.DataFrame) -> None:
    a = build_reference(frame, ["amount"], sample_size=100, seed=7)["features"]["amount"]
    b = build_reference(frame, ["amount"], sample_size=100, seed=7)["features"]["amount"]
    c = build_reference(frame, ["amount"], sample_size=100, seed=8)["features"]["amount"]
    assert a["sample"] == b["sample"]
    assert a["sample"] != c["sample"]
    assert len(a["sample"]) == 100
    assert a["sample"] == sorted(a["sample"])
    assert set(a["sample"]) <= set(frame["amount"].tolist())
    full = build_reference(frame, ["amount"], sample_size=10_000)["features"]["amount"]
    assert len(full["sample"]) == len(frame)


def test_constant_column_has_one_bin(frame: pd.DataFrame) -> None:
    const = build_reference(frame, ["const"])["features"]["const"]
    assert const["bin_edges"] == [2.5, 2.5]
    assert const["expected"] == [1.0]


def test_categorical_and_canonical_strings(frame: pd.DataFrame) -> None:
    ref = build_reference(frame, [], ["channel", "region_code"])
    channel = ref["features"]["channel"]
    assert channel["categories"] == ["app", "branch", "web"]
    assert sum(channel["expected"]) == pytest.approx(1.0)
    assert ref["features"]["region_code"]["categories"] == ["1", "2", "3"]
    # JSON logs carry 3.0 where parquet had 3.
    assert list(canonical_categories(np.array([3.0, 1.5, np.nan]))) == ["3", "1.5", None]


def test_missing_values_are_excluded_and_counted() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "c": ["a", None, "b", "a"]})
    ref = build_reference(df, ["x"], ["c"], bins=2)
    assert ref["features"]["x"]["null_fraction"] == pytest.approx(0.25)
    assert ref["features"]["c"]["null_fraction"] == pytest.approx(0.25)
    assert ref["features"]["c"]["expected"] == pytest.approx([2 / 3, 1 / 3])


def test_round_trip(frame: pd.DataFrame, tmp_path: pathlib.Path) -> None:
    ref = build_reference(frame, ["amount", "age"], ["channel"])
    path = tmp_path / "sub" / "reference.json"
    save_reference(ref, path)
    assert load_reference(path) == ref
    assert not [p for p in path.parent.iterdir() if p.name != "reference.json"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric": ["nope"]}, "columns not in the frame: nope"),
        ({"numeric": ["channel"]}, "column 'channel': numeric feature has dtype object"),
        ({"numeric": ["age", "age"]}, "columns listed more than once: age"),
        ({"numeric": []}, "no feature columns given"),
        ({"numeric": ["age"], "bins": 1}, "bins: must be an integer >= 2"),
    ],
)
def test_build_errors(frame: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ReferenceStatsError, match=message):
        build_reference(frame, **kwargs)


def test_build_rejects_all_missing_column() -> None:
    with pytest.raises(ReferenceStatsError, match="column 'x': has no non-missing values"):
        build_reference(pd.DataFrame({"x": [np.nan, np.nan]}), ["x"])


def _mutations() -> list[tuple[str, object, str]]:
    return [
        ("version", 2, "version: unsupported value 2"),
        ("n_rows", 0, "n_rows: must be a positive integer"),
        ("features", {}, "features: must be a non-empty object"),
        ("features.amount.kind", "text", "features.amount.kind: must be 'numeric' or"),
        ("features.amount.bin_edges", [3, 1], "features.amount.bin_edges: must be >= 2"),
        ("features.amount.expected", [0.5], "features.amount.expected: must be a list of 10"),
        ("features.amount.sample", [], "features.amount.sample: must be a non-empty list"),
        ("features.amount.mean", "x", "features.amount.mean: must be a finite number"),
        ("features.channel.categories", ["a", "a", "b"], "must be a non-empty list of distinct"),
        ("features.channel.expected", [0.5, 0.2, 0.2], "fractions sum to"),
    ]


@pytest.mark.parametrize(("field", "value", "message"), _mutations())
def test_load_rejects_bad_content_with_one_line_naming_file(
    frame: pd.DataFrame, tmp_path: pathlib.Path, field: str, value: object, message: str
) -> None:
    ref = build_reference(frame, ["amount"], ["channel"])
    target = ref
    *parents, leaf = field.split(".")
    for key in parents:
        target = target[key]
    target[leaf] = value
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(ref))
    with pytest.raises(ReferenceStatsError) as info:
        load_reference(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


def test_load_rejects_invalid_json_and_missing_file(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReferenceStatsError, match=r"bad\.json: not valid JSON \(line 1"):
        load_reference(bad)
    with pytest.raises(ReferenceStatsError, match=r"absent\.json: cannot read reference"):
        load_reference(tmp_path / "absent.json")
