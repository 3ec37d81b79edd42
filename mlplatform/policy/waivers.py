"""Waivers: per-stack, time-boxed exceptions to a policy, each with a reason and an approver.

A waivers file, one per stack beside its stack file (``stacks/waivers.<stack>.yaml`` in
this blueprint), or the one ``--waivers`` names::

    waivers:
      - rule: aws-s3-bucket-access-logging        # the policy name, exactly
        resource: "*::prod-access-logs*"          # glob over the resource URN or its name
        reason: "The access-log bucket cannot log to itself"
        approver: "CISO office <ciso@example.ae>"
        expires: 2027-03-31                       # last day the waiver applies (UTC)
        ticket: SEC-1234                          # optional reference

Applied by ``mlplatform policy`` and ``mlplatform report``. They fail closed:

- a waiver past its expiry no longer applies: its finding is a violation again (exit 1),
  and says which waiver expired;
- a malformed file, an entry without an approver (or reason, rule, resource, expiry), an
  unknown key or a rule no pack defines is bad input: one line naming the file, the entry
  and the field, exit 2;
- waived findings stay listed (text, JSON, SARIF ``suppressions``, the report), marked as
  waived with the waiver's reason, approver and expiry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from mlplatform.policy.model import PolicyReport, Violation, WaiverMatch

REQUIRED = ("rule", "resource", "reason", "approver", "expires")
OPTIONAL = ("ticket",)
_MEANING = {
    "rule": "the policy name it waives",
    "resource": "a glob over the resource URN or name",
    "reason": "why the exception is acceptable",
    "approver": "who approved the exception",
    "expires": "the last day it applies, YYYY-MM-DD",
}


class WaiverError(ValueError):
    """A waivers file that cannot be trusted: one line naming the file, entry and field."""


@dataclasses.dataclass(frozen=True)
class Waiver:
    """One exception: a policy, the resources it covers, why, who approved it, until when."""

    rule: str
    resource: str
    reason: str
    approver: str
    expires: dt.date
    ticket: str = ""
    source: str = ""
    """``<file>:waivers[<i>]``, for messages."""

    def covers(self, violation: Violation) -> bool:
        """Whether this waiver is about ``violation`` (expired or not)."""
        if violation.policy != self.rule:
            return False
        names = [violation.urn, violation.resource_name] if violation.urn else ["stack"]
        return any(fnmatch.fnmatchcase(name, self.resource) for name in names if name)

    def expired(self, today: dt.date) -> bool:
        """Past its last day."""
        return today > self.expires

    def match(self, today: dt.date) -> WaiverMatch:
        """The record a waived (or no longer waived) violation carries."""
        return WaiverMatch(
            rule=self.rule,
            resource=self.resource,
            reason=self.reason,
            approver=self.approver,
            expires=self.expires.isoformat(),
            ticket=self.ticket,
            expired=self.expired(today),
            source=self.source,
        )


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise WaiverError(f"{where}.{key}: missing; required: {_MEANING[key]}")
    if not isinstance(value, str):
        raise WaiverError(f"{where}.{key}: {value!r} is not text; expected {_MEANING[key]}")
    return value.strip()


def _date(entry: Mapping[str, Any], where: str) -> dt.date:
    value = entry.get("expires")
    if value is None or value == "":
        raise WaiverError(f"{where}.expires: missing; required: {_MEANING['expires']}")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise WaiverError(
            f"{where}.expires: {value!r} is not a date; allowed: YYYY-MM-DD"
        ) from None


def parse_waivers(data: Any, source: str) -> list[Waiver]:
    """Waivers from parsed YAML ``data``; raises :class:`WaiverError` at the first problem."""
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"waivers"}:
        raise WaiverError(f"{source}: expected a mapping with one key 'waivers' (a list)")
    entries = data.get("waivers") or []
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: waivers: expected a list of waivers")
    waivers = []
    for index, entry in enumerate(entries):
        where = f"{source}: waivers[{index}]"
        if not isinstance(entry, Mapping):
            raise WaiverError(f"{where}: expected a mapping with {', '.join(REQUIRED)}")
        unknown = sorted(str(key) for key in set(entry) - set(REQUIRED) - set(OPTIONAL))
        if unknown:
            raise WaiverError(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(REQUIRED + OPTIONAL)}"
            )
        ticket = entry.get("ticket")
        waivers.append(
            Waiver(
                rule=_text(entry, "rule", where),
                resource=_text(entry, "resource", where),
                reason=_text(entry, "reason", where),
                approver=_text(entry, "approver", where),
                expires=_date(entry, where),
                ticket="" if ticket is None else str(ticket),
                source=f"{source}:waivers[{index}]",
            )
        )
    return waivers


def load_waivers(path: pathlib.Path) -> list[Waiver]:
    """The waivers in ``path``; raises :class:`WaiverError` (one line) when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise WaiverError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise WaiverError(f"{path}: invalid YAML ({detail})") from None
    return parse_waivers(data, str(path))


def check_rules(waivers: Sequence[Waiver], known_policies: Iterable[str]) -> None:
    """A waiver naming a policy no pack defines is a typo that would waive nothing."""
    known = set(known_policies)
    for waiver in waivers:
        if waiver.rule not in known:
            raise WaiverError(
                f"{waiver.source}.rule: {waiver.rule!r} is not a policy of the packs run"
            )


def apply_waivers(
    report: PolicyReport, waivers: Sequence[Waiver], today: dt.date | None = None
) -> PolicyReport:
    """``report`` with every violation a waiver covers marked (waived, or its waiver expired).

    The first waiver in file order that covers a violation and is still valid wins; when
    only expired ones cover it, the violation carries the expired one (and still counts).
    """
    if not waivers:
        return report
    day = today or dt.datetime.now(dt.UTC).date()
    check_rules(waivers, (policy.name for pack in report.packs for policy in pack.policies))
    marked = []
    for violation in report.violations:
        covering = [waiver for waiver in waivers if waiver.covers(violation)]
        valid = [waiver for waiver in covering if not waiver.expired(day)]
        candidates = valid or covering
        marked.append(
            dataclasses.replace(violation, waiver=candidates[0].match(day))
            if candidates
            else violation
        )
    return dataclasses.replace(report, violations=marked)
