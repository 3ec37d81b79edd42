"""Canary analysis (pure decision logic) and the actuator that applies it to KServe."""
