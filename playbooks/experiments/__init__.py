"""Experiments: a playbook run with a random holdout, pre-registered, and judged with statistics fit for it."""
