"""The compliance controls the rules cite, in one place so auditors can review them.

Article numbers are as we read the published texts; each rule lists every control it
serves and sends them over the Analyzer protocol as ``framework:<name>:<control>`` tags.

- UAE PDPL: Federal Decree-Law No. 45 of 2021 on the Protection of Personal Data.
  Art. 20 (security of personal data), Art. 22 and 23 (cross-border transfers).
- CBUAE: Central Bank of the UAE Outsourcing Regulation for Banks; Art. 6 (outsourcing
  risk management: data location, confidentiality and access controls).
- DIFC DPL: DIFC Data Protection Law No. 5 of 2020; Art. 14 (accountability and
  security measures), Art. 26 and 27 (transfers out of the DIFC).
- CIS EKS: CIS Amazon Elastic Kubernetes Service Benchmark v1.5.0 recommendation ids.
- AWS FSBP: AWS Foundational Security Best Practices control ids (Security Hub).
"""

from __future__ import annotations

from policies.rules.declare import Framework

PDPL_SECURITY = Framework("UAE PDPL", "Art. 20", "Federal Decree-Law 45/2021")
PDPL_TRANSFER = Framework("UAE PDPL", "Art. 22-23", "Federal Decree-Law 45/2021")
CBUAE_OUTSOURCING = Framework("CBUAE Outsourcing Regulation", "Art. 6")
DIFC_SECURITY = Framework("DIFC DPL", "Art. 14", "DIFC Law No. 5 of 2020")
DIFC_TRANSFER = Framework("DIFC DPL", "Art. 26-27", "DIFC Law No. 5 of 2020")

RESIDENCY = (PDPL_TRANSFER, CBUAE_OUTSOURCING, DIFC_TRANSFER)
"""Controls every data-location rule serves."""

SECURITY = (PDPL_SECURITY, CBUAE_OUTSOURCING, DIFC_SECURITY)
"""Controls every confidentiality / access-control rule serves."""


def cis_eks(*ids: str) -> tuple[Framework, ...]:
    """CIS EKS Benchmark recommendations by id."""
    return tuple(Framework("CIS EKS", control, "v1.5.0") for control in ids)


def fsbp(*ids: str) -> tuple[Framework, ...]:
    """AWS Foundational Security Best Practices controls by id."""
    return tuple(Framework("AWS FSBP", control) for control in ids)
