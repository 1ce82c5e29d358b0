"""The health score: a weighted composite of component KPIs (see ../shared/METRICS.md, Health score)."""
