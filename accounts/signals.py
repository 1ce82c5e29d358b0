"""`customer_data_changed`: sent by the ingest follow-up task, in the tenant, after a batch is committed.

Receivers get `kind` (a DataKind), `account_ids` and `days` (local days touched, for events). The usage
rollups listen for events; the metrics engine listens to recompute the KPIs of the accounts touched.
"""

from django.dispatch import Signal

customer_data_changed = Signal()
