"""Operator tooling: ``metricx doctor``, the configuration reference."""
