"""The response SLA clock, said the same way on Alerts, My work, a task's page and in emails: time left before
the response is due, or how long ago it was missed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Under this much time left, the clock warns: a day's work is the least a response needs.
DUE_SOON = timedelta(hours=24)


class SlaState:
    RUNNING = "running"
    DUE_SOON = "due_soon"
    MISSED = "missed"
    MET = "met"
    LATE = "late"


@dataclass(frozen=True)
class SlaClock:
    state: str
    label: str

    @property
    def missed(self) -> bool:
        return self.state in (SlaState.MISSED, SlaState.LATE)


def duration_words(delta: timedelta) -> str:
    """A duration as people say it, to the nearest sensible unit: 3 d 4 h, 5 h 20 min, 12 min."""
    minutes = max(int(abs(delta).total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def sla_clock(*, respond_by: datetime, now: datetime, closed_at: datetime | None = None) -> SlaClock:
    """Where the response SLA stands: running (with time left), due soon, missed (by how long), or for closed
    work met or late. The clock runs until the work is closed, as escalation does."""
    if closed_at is not None:
        if closed_at <= respond_by:
            return SlaClock(SlaState.MET, "SLA met")
        return SlaClock(SlaState.LATE, f"SLA missed by {duration_words(closed_at - respond_by)}")
    left = respond_by - now
    if left < timedelta(0):
        return SlaClock(SlaState.MISSED, f"SLA missed {duration_words(left)} ago")
    return SlaClock(SlaState.DUE_SOON if left < DUE_SOON else SlaState.RUNNING,
                    f"{duration_words(left)} left to respond")
