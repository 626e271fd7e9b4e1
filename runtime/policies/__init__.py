"""Scheduling policies: one class each behind `PolicyName` and `make_policy`."""
