"""What the metrics engine tells the rest of the product."""

from django.dispatch import Signal

# An incremental run left the segments and portfolio of KPIs to re-aggregate (arguments: as_of, kpi_ids): their
# aggregate is not a sum (a median) and cannot be corrected by the touched accounts alone, and reading every
# account's stored row is bulk work, not what an ingest's follow-up should wait for (metrics.receivers).
aggregates_deferred = Signal()
