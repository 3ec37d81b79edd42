"""A resource being created, as the functions of the ``computed`` tables see it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mlplatform.engine.cloud import digest


@dataclass
class NewResource:
    """A resource being created: what the program asked for and the answer being filled in.

    ``id`` starts as the generic auto-name; ``region``, ``account``, ``partition`` and
    ``arn`` are set for AWS resources only. ``known_at_preview`` names the outputs a
    provider knows before it creates anything (the auto-names its ``Check`` fills in, the
    region, ``tagsAll``): in a preview these stay, every other computed output is unknown.
    """

    type_: str
    name: str
    urn: str
    inputs: dict[str, Any]
    state: dict[str, Any] = field(init=False)
    id: Any = field(init=False)
    region: str = ""
    account: str = ""
    partition: str = "aws"
    arn: str = ""
    preview: bool = False
    known_at_preview: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.state = dict(self.inputs)
        self.id = self.auto_name()

    @property
    def package(self) -> str:
        """``aws`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[0]

    @property
    def module(self) -> str:
        """``s3`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[2].partition(":")[0].split("/")[0]

    @property
    def kind(self) -> str:
        """``Bucket`` of ``aws:s3/bucket:Bucket``."""
        return self.type_.partition(":")[2].partition(":")[2]

    @cached_property
    def urn_digest(self) -> str:
        """The digest AWS-style ids and ARNs are made of."""
        return digest(self.urn)

    def auto_name(self, digits: int = 8) -> str:
        """The resource name with a suffix derived from the URN, where providers add a random one."""
        return f"{self.name}-{digest(self.urn, length=digits)}"

    def aws_auto_name(self) -> str:
        """The AWS provider's auto-name: a 7-character suffix."""
        return self.auto_name(7)

    def arn_of(
        self, service: str, rest: str, *, regional: bool = True, account: bool = True
    ) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<rest>`` of this resource."""
        region = self.region if regional else ""
        owner = self.account if account else ""
        return f"arn:{self.partition}:{service}:{region}:{owner}:{rest}"

    @property
    def dns_suffix(self) -> str:
        """``amazonaws.com`` (``amazonaws.com.cn`` in China)."""
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def number(self, *salt: str, modulo: int) -> int:
        """A stable number below ``modulo`` for this resource (ports, addresses, revisions)."""
        return int(digest(self.urn, *salt, length=12), 16) % modulo


OutputHandler = Callable[[NewResource], None]


def given_name(resource: NewResource, key: str = "name") -> Any:
    """The name the program gave in input ``key``, else the AWS auto-name (known at preview)."""
    given = resource.inputs.get(key)
    if given:
        return given
    auto_name = resource.aws_auto_name()
    resource.state[key] = auto_name
    resource.known_at_preview.add(key)
    return auto_name
