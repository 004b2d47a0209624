"""Searches: MAP-Elites over per-class champions (and, later, gradient ascent)."""

from .archive import THRESHOLDS, ClassArchive
from .map_elites import MapElites

__all__ = ["THRESHOLDS", "ClassArchive", "MapElites"]
