"""Searches: MAP-Elites over per-class champions, and gradient ascent."""

from .archive import THRESHOLDS, ClassArchive
from .gradient import AscentResult, AscentStats, GradientAscent
from .map_elites import MapElites

__all__ = [
    "THRESHOLDS",
    "AscentResult",
    "AscentStats",
    "ClassArchive",
    "GradientAscent",
    "MapElites",
]
