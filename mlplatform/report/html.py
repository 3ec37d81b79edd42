"""``report.html``: one self-contained page (inline CSS, inline SVG charts, no scripts).

Nothing is fetched: no external script, stylesheet, font or image, so the file opens the
same on an auditor's air-gapped laptop as in CI. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
header{background:#12324a;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:22px}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:18px 0;padding:14px 18px}
h2{font-size:18px;margin:4px 0 10px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6e8eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f2f5}
code{font-size:12px;word-break:break-all}
.pass{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:600}
.waived{color:#8a5a00;font-weight:600}.na{color:#5f6b7a;font-weight:600}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;color:#fff}
.ok{background:#176f2c}.bad{background:#b00020}
.note{color:#5f6b7a;font-size:12px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0}
dt{font-weight:600}
details>summary{cursor:pointer}
"""

_STATUS_CLASS = {"pass": "pass", "fail": "fail", "waived": "waived", "not assessed": "na"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(status: str) -> str:
    return f'<span class="{_STATUS_CLASS.get(status, "na")}">{_e(status)}</span>'


def _short_labels(labels: Sequence[str]) -> list[str]:
    """Labels without the prefix they all share (``prod-pool-a-gpu`` -> ``gpu``)."""
    if len(labels) < 2:
        return list(labels)
    prefix = labels[0]
    for label in labels[1:]:
        while not label.startswith(prefix):
            prefix = prefix[:-1]
    cut = prefix.rfind("-") + 1
    return [label[cut:] or label for label in labels]


def bar_chart(title: str, bars: Sequence[tuple[str, float, float | None]], width: int = 760) -> str:
    """A horizontal bar chart as inline SVG: (label, value, budget or None) per bar."""
    row, label_w, pad = 26, 250, 8
    labels = _short_labels([label for label, _, _ in bars])
    bars = [(short, value, budget) for short, (_, value, budget) in zip(labels, bars, strict=True)]
    height = row * max(1, len(bars)) + 30
    top = max([value for _, value, _ in bars] + [b or 0 for _, _, b in bars] + [1.0])
    scale = (width - label_w - 90) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>'
    ]
    for i, (label, value, budget) in enumerate(bars):
        y = 20 + i * row
        length = max(1.0, value * scale)
        over = budget is not None and value > budget
        colour = "#b00020" if over else "#2f6f9f"
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12" fill="#1d2430">{_e(label[:36])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{row - pad}" '
            f'fill="{colour}"><title>{_e(label)}: ${value:,.2f}/month</title></rect>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 14}" font-size="12" '
            f'fill="#1d2430">${value:,.0f}</text>'
        )
        if budget is not None:
            x = label_w + budget * scale
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 2}" y2="{y + row - pad + 2}" '
                f'stroke="#8a5a00" stroke-width="2" stroke-dasharray="3,2">'
                f"<title>budget ${budget:,.0f}</title></line>"
            )
    parts.append(
        f'<text x="0" y="12" font-size="11" fill="#5f6b7a">USD per month, priced items only'
        f"{' (dashed line: budget)' if any(b is not None for _, _, b in bars) else ''}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _empty_chart(text: str, width: int = 760) -> str:
    """The chart of an owner with nothing priced: says so instead of drawing $0."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="30" '
        f'viewBox="0 0 {width} 30"><title>{_e(text)}</title>'
        f'<rect x="0" y="4" width="{width}" height="22" fill="#f0f2f5" stroke="#c9ced6"/>'
        f'<text x="8" y="19" font-size="12" fill="#5f6b7a">{_e(text)}</text></svg>'
    )


def _scope(document: Mapping[str, Any]) -> str:
    scope = document["scope"]
    verdict = document["verdict"]
    badge = (
        '<span class="badge bad">FAILED</span>'
        if verdict["exitCode"]
        else '<span class="badge ok">PASSED</span>'
    )
    packs = ", ".join(f"{p['name']} {p['version']}" for p in scope["packs"])
    rows = [
        (
            "Verdict",
            f"{badge} {verdict['mandatoryViolations']} unwaived mandatory violation(s), "
            f"{verdict['waived']} waived, {verdict['resourcesAnalyzed']} resources analyzed",
        ),
        ("Project / stack", _e(f"{scope['project']} / {scope['stack']}")),
        ("Account", _e(scope["account"])),
        ("Region(s)", _e(", ".join(scope["regions"]))),
        ("Git commit", f"<code>{_e(scope['gitCommit'])}</code>"),
        ("Generated", _e(scope["generatedAt"]) + (" (preview)" if scope["preview"] else "")),
        ("Policy packs", _e(packs)),
        ("Controls mapping", _e(scope["reviewStatus"])),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="scope"><h2>Scope</h2><dl>{items}</dl></section>'


def _frameworks(document: Mapping[str, Any]) -> str:
    parts = ['<section id="controls"><h2>Controls</h2>']
    summary_rows = [
        [
            _e(fw["name"]),
            *[str(fw["summary"][status]) for status in ("pass", "fail", "waived", "not assessed")],
        ]
        for fw in document["frameworks"]
    ]
    parts.append(_table(["Framework", "pass", "fail", "waived", "not assessed"], summary_rows))
    for fw in document["frameworks"]:
        parts.append(f"<h3>{_e(fw['name'])}: {_e(fw['title'])}</h3>")
        parts.append(f'<p class="note">Source: {_e(fw["source"])}</p>')
        rows = []
        for control in fw["controls"]:
            evidence = []
            for finding in control["findings"]:
                waiver = finding.get("waiver") or {}
                note = (
                    f" (waived until {_e(waiver.get('expires'))} by {_e(waiver.get('approver'))}:"
                    f" {_e(waiver.get('reason'))})"
                    if finding["waived"]
                    else (" (waiver expired " + _e(waiver.get("expires")) + ")" if waiver else "")
                )
                mark = (
                    '<span class="waived">waived</span>'
                    if finding["waived"]
                    else '<span class="fail">&#10007;</span>'
                )
                evidence.append(
                    f"<div>{mark} <code>{_e(finding['urn'])}</code> {_e(finding['rule'])}: "
                    f"{_e(finding['message'].splitlines()[0] if finding['message'] else '')}{note}</div>"
                )
            passing = control["passing"]
            if passing:
                shown = "".join(
                    f"<div>&#10003; <code>{_e(p['urn'].rsplit('::', 1)[-1])}</code> "
                    f"({_e(p['type'])}, {_e(p['region'])}) {_e(p['rule'])}"
                    + (
                        ": "
                        + _e(", ".join(f"{k}={v}" for k, v in list(p["properties"].items())[:4]))
                        if p["properties"]
                        else ""
                    )
                    + "</div>"
                    for p in passing[:12]
                )
                more = (
                    f"<div class='note'>and {len(passing) - 12} more</div>"
                    if len(passing) > 12
                    else ""
                )
                evidence.append(
                    f"<details><summary>{len(passing)} resource check(s) passed</summary>"
                    f"{shown}{more}</details>"
                )
            rows.append(
                [
                    _e(control["id"]),
                    _e(control["title"]),
                    _status(control["status"]),
                    _e(", ".join(control["rules"]) or "-"),
                    "".join(evidence) or '<span class="note">-</span>',
                ]
            )
        parts.append(_table(["Control", "Title", "Status", "Rules", "Evidence"], rows))
    parts.append("</section>")
    return "".join(parts)


def _rules(document: Mapping[str, Any]) -> str:
    rows = [
        [
            _e(rule["name"]),
            _e(rule["pack"]),
            _e(rule["enforcementLevel"]),
            _e(rule["severity"]),
            _status(rule["status"]),
            str(rule["findings"]),
        ]
        for rule in document["rules"]
    ]
    return (
        '<section id="rules"><h2>Rules</h2>'
        + _table(["Rule", "Pack", "Enforcement", "Severity", "Status", "Findings"], rows)
        + "</section>"
    )


def _backups(backups: Mapping[str, Any]) -> str:
    parts = [_e(f"{k}={v}") for k, v in backups.items() if k != "awsBackup"]
    for plan in backups.get("awsBackup") or []:
        copies = ", ".join(f"{c['destination']} ({c['region']})" for c in plan["copies"])
        parts.append(
            _e(
                f"AWS Backup {plan['plan']} {plan['schedule']}, {plan['retentionDays']} d "
                f"-> {plan['vault']} ({plan['vaultRegion']})"
                + (f"; copies: {copies}" if copies else "")
            )
        )
    return "<br>".join(parts) or "-"


def _residency(document: Mapping[str, Any]) -> str:
    residency = document["residency"]
    counts: dict[str, int] = {}
    for row in residency["resources"]:
        counts[row["region"]] = counts.get(row["region"], 0) + 1
    region_rows = [[_e(region), str(count)] for region, count in sorted(counts.items())]
    store_rows = [
        [
            f"<code>{_e(store['name'])}</code><br><span class='note'>{_e(store['type'])}</span>",
            _e(store["region"]),
            "<br>".join(f"<code>{_e(key)}</code>" for key in store["encryptionKeys"]) or "-",
            "<br>".join(_e(f"{r['destination']} ({r['region']})") for r in store["replicas"])
            or "none",
            _backups(store["backups"]),
            "<br>".join(_e(f"{d['destination']} ({d['region']})") for d in store["logDestinations"])
            or "-",
        ]
        for store in residency["dataStores"]
    ]
    all_rows = [
        [f"<code>{_e(row['urn'])}</code>", _e(row["type"]), _e(row["region"])]
        for row in residency["resources"]
    ]
    return (
        '<section id="residency"><h2>Residency</h2><h3>Resources per region</h3>'
        + _table(["Region", "Resources"], region_rows)
        + "<h3>Data stores</h3>"
        + _table(
            ["Data store", "Region", "Encryption key", "Replicas", "Backups", "Log destinations"],
            store_rows,
        )
        + f"<details><summary>Every resource ({len(all_rows)})</summary>"
        + _table(["URN", "Type", "Region"], all_rows)
        + "</details></section>"
    )


def _cost(document: Mapping[str, Any]) -> str:
    cost = document["cost"]
    tenants = cost["tenants"]
    bars = [
        (name, float(entry["pricedUsd"]), entry.get("budgetUsd"))
        for name, entry in sorted(tenants.items())
    ]
    bars.append(("shared platform", float(cost["shared"]["pricedUsd"]), None))
    parts = [
        '<section id="cost"><h2>Cost estimate</h2>',
        f'<p class="note">{cost["hoursPerMonth"]:g} h/month; prices: '
        f"{_e(cost['priceData']['file'])} (researched {_e(cost['priceData']['researchDate'])}). "
        "Unpriced items are listed, never counted as $0.</p>",
        bar_chart("Monthly estimate per tenant", bars),
    ]
    rows = [
        [
            _e(name),
            _e(entry.get("tier", "")),
            f"${entry['pricedUsd']:,.2f}",
            "-" if entry.get("budgetUsd") is None else f"${entry['budgetUsd']:,.2f}",
            str(entry["unpricedItems"]),
        ]
        for name, entry in sorted(tenants.items())
    ]
    rows.append(
        [
            "shared platform",
            "-",
            f"${cost['shared']['pricedUsd']:,.2f}",
            "-",
            str(cost["shared"]["unpricedItems"]),
        ]
    )
    rows.append(
        [
            "<b>total</b>",
            "",
            f"<b>${cost['total']['pricedUsd']:,.2f}</b>",
            "",
            str(cost["total"]["unpricedItems"]),
        ]
    )
    parts.append(_table(["Owner", "Tier", "Priced $/month", "Budget", "Unpriced items"], rows))
    tier_rows = [
        [
            _e(tier),
            _e(", ".join(entry["tenants"])),
            f"${entry['pricedUsd']:,.2f}",
            "-" if entry.get("budgetUsd") is None else f"${entry['budgetUsd']:,.2f}",
        ]
        for tier, entry in sorted(cost["tiers"].items())
    ]
    parts.append("<h3>Per tier</h3>")
    parts.append(_table(["Tier", "Tenants", "Priced $/month", "Budget"], tier_rows))
    for name in sorted(tenants):
        items = [i for i in cost["items"] if i["tenant"] == name and i["status"] != "no-charge"]
        # Resource names usually carry the tenant's: the part after it tells them apart.
        tenant_bars = [
            (i["name"].split(f"{name}-", 1)[-1], float(i["monthlyUsd"] or 0), None)
            for i in items
            if i["status"] == "priced"
        ]
        parts.append(f"<h3>{_e(name)}</h3>")
        unpriced = [i for i in items if i["status"] == "unpriced"]
        parts.append(
            bar_chart(f"{name}: priced resources", tenant_bars)
            if tenant_bars
            else _empty_chart(
                f"{name}: no priced resource; {len(unpriced)} unpriced (listed below)"
            )
        )
        if unpriced:
            parts.append(
                f"<details><summary>{len(unpriced)} unpriced</summary>"
                + _table(
                    ["Resource", "Type", "Why unpriced"],
                    [[_e(i["name"]), _e(i["type"]), _e(i["detail"])] for i in unpriced],
                )
                + "</details>"
            )
    if cost["overBudget"]:
        parts.append(
            "<p class='fail'>" + "<br>".join(_e(line) for line in cost["overBudget"]) + "</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def _diff(document: Mapping[str, Any]) -> str:
    diff = document.get("diff")
    if not diff:
        return ""
    rows = (
        [["new", f"<code>{_e(k)}</code>"] for k in diff["newFindings"]]
        + [["fixed", f"<code>{_e(k)}</code>"] for k in diff["fixedFindings"]]
        + [
            ["changed", f"<code>{_e(c['key'])}</code> {_e(c['before'])} &rarr; {_e(c['after'])}"]
            for c in diff["changedFindings"]
        ]
        + [
            ["control", f"{_e(c['control'])}: {_e(c['before'])} &rarr; {_e(c['after'])}"]
            for c in diff["controlChanges"]
        ]
    )
    change = diff.get("costChangeUsd")
    cost = "" if change is None else f"<p>Cost change: ${change:+,.2f}/month (priced items)</p>"
    return (
        f'<section id="diff"><h2>Since the baseline ({_e(diff["baselineGeneratedAt"])})</h2>'
        + cost
        + (
            _table(["Change", "What"], rows)
            if rows
            else "<p>No change in findings or controls.</p>"
        )
        + "</section>"
    )


def _card_link(card: str) -> str:
    """A link to a model card: ``file://`` (absolute) for a local card, else the ``s3://`` URI."""
    href = card
    if not card.startswith("s3://"):
        import pathlib

        href = pathlib.Path(card).resolve().as_uri()  # relative to where the report ran
    return f'<a href="{_e(href)}"><code>{_e(card)}</code></a>'


def _lineage(document: Mapping[str, Any]) -> str:
    lineage = document.get("lineage") or {}
    head = '<section id="lineage"><h2>Model lineage</h2>'
    if not lineage.get("provided"):
        return head + f"<p class='note'>{_e(lineage.get('note', 'not provided'))}</p></section>"
    parts = [
        head,
        "<p>Registries: "
        + ", ".join(
            f"{_e(r['tenant'])}: <code>{_e(r['uri'])}</code>" for r in lineage["registries"]
        )
        + f" &middot; {len(lineage['versions'])} served version(s), {lineage['failed']} failed</p>",
    ]
    for version in lineage["versions"]:
        data = version["lineage"] or {}
        parts.append(
            f"<h3>{_e(version['tenant'])} / {_e(version['model'])} {_e(version['version'])} "
            f"({_e(version['stage'])}) {_status(version['status'])}</h3><dl>"
            f"<dt>Model card</dt><dd>{_card_link(version['card'])} "
            f"<span class='note'>sha256 {_e(version['cardSha256'])}</span></dd>"
            f"<dt>Signature</dt><dd>{_e(version['signature']['status'])}: "
            f"{_e(version['signature']['detail'])}</dd>"
            f"<dt>Point-in-time cut-off</dt><dd>{_e(data.get('pointInTimeCutoff') or '-')}</dd>"
            f"<dt>Feature service</dt><dd>{_e(data.get('featureService') or '-')}</dd></dl>"
        )
        if version["problems"]:
            parts.append(
                "<ul>" + "".join(f"<li>{_e(p)}</li>" for p in version["problems"]) + "</ul>"
            )
        if data:
            parts.append(
                _table(
                    ["Feature view", "Version (sha256 of its spec)"],
                    [
                        [_e(v["name"]), f"<code>{_e(v['version'])}</code>"]
                        for v in data["featureViews"]
                    ],
                )
                + _table(
                    ["Training file", "View", "Rows", "sha256"],
                    [
                        [
                            f"<code>{_e(f['uri'])}</code>",
                            _e(f["view"] or "labels"),
                            _e(f["rows"] if f["rows"] is not None else "-"),
                            f"<code>{_e(f['sha256'])}</code>",
                        ]
                        for f in data["files"]
                    ],
                )
            )
    return "".join(parts) + "</section>"


def render_html(document: Mapping[str, Any]) -> str:
    """The whole page."""
    scope = document["scope"]
    title = f"Compliance evidence: {scope['project']} / {scope['stack']}"
    tenants = ", ".join(document["tenants"]) or "none"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # No script, no remote anything: a CSP that says so, for readers that enforce it.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><div>Tenants: {_e(tenants)} &middot; generated "
        f"{_e(scope['generatedAt'])} &middot; mlplatform report</div></header><main>"
        + _scope(document)
        + _diff(document)
        + _cost(document)
        + _frameworks(document)
        + _rules(document)
        + _residency(document)
        + _lineage(document)
        + "</main></body></html>\n"
    )
