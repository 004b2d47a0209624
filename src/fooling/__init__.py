"""fooling: images no person would recognise that a classifier labels with >= 99.99 % confidence.

A PyTorch reproduction of Nguyen, Yosinski & Clune, "Deep Neural Networks are Easily Fooled"
(CVPR 2015), and a toolkit to probe your own models.
"""

__version__ = "0.1.0"

from .encodings import DirectEncoding, create_encoding  # noqa: E402
from .errors import FoolingError  # noqa: E402
from .experiments.ascent import AscentConfig, ascent  # noqa: E402
from .experiments.config import EvolveConfig  # noqa: E402
from .experiments.evolve import evolve, resume  # noqa: E402
from .models import Classifier, ClassifierSpec, create_classifier, list_models  # noqa: E402
from .search import ClassArchive, GradientAscent, MapElites  # noqa: E402

__all__ = [
    "AscentConfig",
    "ClassArchive",
    "Classifier",
    "ClassifierSpec",
    "DirectEncoding",
    "EvolveConfig",
    "FoolingError",
    "GradientAscent",
    "MapElites",
    "__version__",
    "ascent",
    "create_classifier",
    "create_encoding",
    "evolve",
    "list_models",
    "resume",
]
