"""The calculator registry: importing this package registers every built-in calculator."""

from metrics.calculators import health, prediction, revenue, support, surveys, usage  # noqa: F401
from metrics.calculators.base import REGISTRY, Calculator, CalculatorError, calculator_for, register

__all__ = ["REGISTRY", "Calculator", "CalculatorError", "calculator_for", "register"]
