"""Renewal probability and expansion potential: features per account and observation date (features), what
happened next (labels), per-tenant models with an out-of-time back-test (training), and why each account got
its number (explain). See docs/prediction.md."""
