"""Feast feature repository of the churn use case: definitions, data generator, configs."""
