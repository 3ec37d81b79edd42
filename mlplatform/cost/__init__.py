"""Monthly cost estimate of a plan, per tenant, per tier and for the shared platform.

The estimate reads only the plan (resources, tags and labels, the program's exported
``costBudgets``), the region's shipped price data and a usage file (see ``usage.yaml``).
Unknown prices are *unpriced* with a reason, never $0; see :mod:`.estimate`.
"""

from mlplatform.cost.estimate import (
    CostError,
    Estimate,
    estimate_plan,
    load_usage,
    render_text,
)

__all__ = ["CostError", "Estimate", "estimate_plan", "load_usage", "render_text"]
