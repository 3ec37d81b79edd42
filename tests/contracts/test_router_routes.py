"""The canary router routes only the model's public API; everything else gets no route.

The Envoy bootstrap is rendered exactly as the serving component deploys it and the
actuator patches it, then every path is matched against its route table the way Envoy
does: the query string is dropped, the path is normalised first (``normalize_path``,
``merge_slashes``; escaped slashes are refused), routes are tried in order, a
``safe_regex`` must match the whole path, header matchers must all match, and a
request that matches no route is answered 404 by Envoy itself.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

import pytest
import yaml

from contracts.router import (
    ROUTER_CONFIG_KEY,
    promotion_patch,
    routed_backends,
    router_config,
    router_traffic_patch,
)

NS = "tenant-a"

ALLOWED = [
    ("GET", "/"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v1/models/churn"),
    ("GET", "/v2/models/churn"),
    ("GET", "/v2/models/churn/ready"),
    ("POST", "/v1/models/churn:predict"),
    ("POST", "/v2/models/churn/infer"),
    ("POST", "/v2/models/churn/versions/sha-63a6e0be0991/infer"),
    ("POST", "/v2/models/churn/infer?trace=1"),
    ("POST", "//v2//models/churn/infer"),
]
REFUSED = [
    ("POST", "/v2/repository/models/churn/load"),
    ("POST", "/v2/repository/models/churn/unload"),
    ("POST", "/v2/repository/index"),
    ("GET", "/v2/repository/index"),
    ("POST", "/v1/models/churn:load"),
    ("POST", "/v1/models/churn:unload"),
    ("POST", "/v1/models/churn:explain"),
    ("GET", "/v1/models"),
    ("GET", "/v2/models"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("POST", "/v2/models/fraud/infer"),  # another model's name
    ("POST", "/v2/models/churn/infer/../../../repository/models/churn/unload"),
    ("POST", "/v2/models/churn/./infer/../../../v2/repository/models/churn/unload"),
    ("POST", "/v2/models/churn%2Finfer"),
    ("POST", "/v2/models/churn/versions/../../../repository/index/infer"),
    ("DELETE", "/v2/models/churn"),
    ("PUT", "/v2/models/churn/infer"),
    ("HEAD", "/v2/models/churn"),
]


def _hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def envoy_route(config: dict[str, Any], method: str, raw_path: str) -> tuple[int, Any]:
    """(status, route action) Envoy would pick; 400 rejected, 404 no route."""
    hcm = _hcm(config)
    path = raw_path.split("?", 1)[0]
    if "%2f" in path.lower() or "%5c" in path.lower():
        assert hcm["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
        return 400, None
    if hcm.get("merge_slashes"):
        path = re.sub("/+", "/", path)
    if hcm.get("normalize_path"):
        trailing = path.endswith("/") and path != "/"
        path = posixpath.normpath(path) + ("/" if trailing else "")
    headers = {":method": method, ":path": path}
    for host in hcm["route_config"]["virtual_hosts"]:
        assert host["domains"] == ["*"]
        for route in host["routes"]:
            match = route["match"]
            keys = set(match) - {"headers"}
            assert len(keys) == 1, match
            (kind,) = keys
            if kind == "prefix":
                hit = path.startswith(match["prefix"])
            elif kind == "path":
                hit = path == match["path"]
            elif kind == "safe_regex":
                hit = re.fullmatch(match["safe_regex"]["regex"], path) is not None
            else:
                raise AssertionError(f"unsupported matcher {kind}")
            for header in match.get("headers", []):
                value = headers.get(header["name"], "")
                string_match = header["string_match"]
                if "exact" in string_match:
                    hit = hit and value == string_match["exact"]
                else:
                    hit = (
                        hit and re.fullmatch(string_match["safe_regex"]["regex"], value) is not None
                    )
            if hit:
                if "direct_response" in route:
                    return int(route["direct_response"]["status"]), None
                return 200, route["route"]
    return 404, None


@pytest.fixture(
    params=[
        ("canary", lambda: router_config(NS, "churn-champion", "churn-challenger", 10)),
        ("rollback", lambda: router_config(NS, "churn-champion", None, 0)),
        (
            "patched",
            lambda: yaml.safe_load(
                router_traffic_patch(NS, "churn-champion", "churn-challenger", 30)["configmap"][
                    "data"
                ][ROUTER_CONFIG_KEY]
            ),
        ),
        (
            "promoted",
            lambda: yaml.safe_load(
                promotion_patch(NS, "churn-challenger")["configmap"]["data"][ROUTER_CONFIG_KEY]
            ),
        ),
    ],
    ids=lambda p: p[0],
)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param[1]()


@pytest.mark.parametrize(("method", "path"), ALLOWED)
def test_public_routes_reach_the_predictors(config: dict[str, Any], method: str, path: str) -> None:
    status, action = envoy_route(config, method, path)
    assert status == 200, (method, path)
    assert action["weighted_clusters"]["clusters"], action


@pytest.mark.parametrize(("method", "path"), REFUSED)
def test_everything_else_gets_no_route(config: dict[str, Any], method: str, path: str) -> None:
    status, _ = envoy_route(config, method, path)
    assert status in (400, 403, 404), (method, path, status)


def test_weights_still_read_back() -> None:
    config = router_config(NS, "churn-champion", "churn-challenger", 10)
    assert routed_backends(NS, config) == {"churn-champion": 90, "churn-challenger": 10}


def test_router_needs_a_champion_or_challenger_name() -> None:
    with pytest.raises(ValueError, match="not <model>-champion or <model>-challenger"):
        router_config(NS, "churn", None, 0)


def test_route_regexes_fit_envoys_re2_program_limit() -> None:
    """Envoy refuses RE2 programs over 100 instructions (re2.max_program_size.error_level)."""
    import re2

    longest = "m" + "x" * 38 + "m"  # the longest model name allowed (40 characters)
    config = router_config(NS, f"{longest}-champion", None, 0)
    routes = _hcm(config)["route_config"]["virtual_hosts"][0]["routes"]
    regexes = [r["match"]["safe_regex"]["regex"] for r in routes if "safe_regex" in r["match"]]
    assert regexes
    for regex in regexes:
        assert re2.compile(regex).programsize <= 100, regex
