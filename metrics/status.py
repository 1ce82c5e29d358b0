"""Where a KPI stands against its target: the one rule the dashboard, alerts and reviews all use."""

from __future__ import annotations

from enum import StrEnum

# Within this share of the target (on the wrong side) a KPI is at risk rather than off track.
AT_RISK_TOLERANCE = 0.05


class TargetStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_TARGET = "no_target"
    NO_VALUE = "no_value"


def target_status(*, value: float | None, target: float | None, direction: str) -> TargetStatus:
    """On track when the value meets the target in the KPI's direction; at risk when it misses by no more
    than 5% of the target's size (at least 1 unit for targets near 0); off track beyond that."""
    if target is None:
        return TargetStatus.NO_TARGET
    if value is None:
        return TargetStatus.NO_VALUE
    gap = value - target if direction == "higher" else target - value
    if gap >= 0:
        return TargetStatus.ON_TRACK
    if -gap <= max(abs(target) * AT_RISK_TOLERANCE, 1.0):
        return TargetStatus.AT_RISK
    return TargetStatus.OFF_TRACK


STATUS_LABELS = {
    TargetStatus.ON_TRACK: "On track", TargetStatus.AT_RISK: "At risk", TargetStatus.OFF_TRACK: "Off track",
    TargetStatus.NO_TARGET: "No target", TargetStatus.NO_VALUE: "No value",
}
