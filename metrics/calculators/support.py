"""Support and cost KPIs from support tickets (see ../shared/METRICS.md, Support and cost)."""
