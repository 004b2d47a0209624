"""Classifiers: the wrapper, its spec, the registry and the registered networks."""

from . import zoo as _zoo  # noqa: F401  (registers the models)
from .alexnet import AlexNet
from .caffe import read_binaryproto, read_caffemodel
from .caffenet import CaffeNet
from .classifier import Classifier, ClassifierSpec
from .lenet import LeNet, SolverConfig, train_lenet
from .registry import create_classifier, list_models, model_options, register_model

__all__ = [
    "AlexNet",
    "CaffeNet",
    "Classifier",
    "ClassifierSpec",
    "LeNet",
    "SolverConfig",
    "create_classifier",
    "list_models",
    "model_options",
    "read_binaryproto",
    "read_caffemodel",
    "register_model",
    "train_lenet",
]
