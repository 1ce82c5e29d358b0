"""`tenant_created`: sent inside the new tenant's schema, in the creating transaction, with its first admin.

Apps install their defaults from it (the metrics catalogue), so `tenants` depends on none of them.
"""

from django.dispatch import Signal

tenant_created = Signal()
