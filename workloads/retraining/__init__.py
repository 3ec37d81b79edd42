"""Retraining: the per-tenant controller (``python -m workloads.retraining``) that turns
triggers into training runs and challengers into canaries, and the run itself
(``python -m workloads.retraining.run``)."""
