"""News any layer may send to the apps above it, which it must not import (docs/architecture.md)."""

from django.dispatch import Signal

# A service changed one row with an UPDATE (a compare-and-set, which sends no post_save). Sent with `instance`
# as it was before, `action` (a verb: "deactivated", "revoked") and `changes` ({field: new value}), only when
# the UPDATE changed the row. The audit log records it.
changed_by_update = Signal()
