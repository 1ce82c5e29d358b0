"""`customer_data_changed`: sent by the ingest follow-up task, in the tenant, after a batch is committed.

Receivers get `kind` (a DataKind), `account_ids`, `days` (local days touched, for events) and `created_ids`
(the ids of the rows the batch created, for surveys). The usage rollups listen for events; the metrics
engine listens to recompute the KPIs of the accounts touched and to score the new survey comments.
"""

from django.dispatch import Signal

customer_data_changed = Signal()
