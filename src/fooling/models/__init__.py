"""Classifiers: the wrapper, its spec, the registry and the registered networks."""

from . import zoo as _zoo  # noqa: F401  (registers the models)
from .classifier import Classifier, ClassifierSpec
from .lenet import LeNet, SolverConfig, train_lenet
from .registry import create_classifier, list_models, register_model

__all__ = [
    "Classifier",
    "ClassifierSpec",
    "LeNet",
    "SolverConfig",
    "create_classifier",
    "list_models",
    "register_model",
    "train_lenet",
]
