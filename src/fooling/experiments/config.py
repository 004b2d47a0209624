"""Frozen configs for the experiments; the resolved config is written to ``config.json``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from .. import distributed
from ..encodings import ENCODINGS
from ..errors import ConfigError, check_positive_int
from ..models import Classifier, create_classifier

AUTOCAST = ("bf16", "fp16")

_Config = TypeVar("_Config", bound="DictConfig")


class DictConfig:
    """``config.json`` for a frozen dataclass config whose sequences are tuples: they are
    JSON lists in the file and tuples again when read back; unknown keys are refused."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # set by @dataclass on the subclass

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def check_keys(cls, keys: Iterable[str]) -> None:
        """Raise a one-line ``ConfigError`` naming every key that is not a field."""
        unknown = set(keys) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")

    @classmethod
    def from_dict(cls: type[_Config], d: Mapping[str, Any]) -> _Config:
        cls.check_keys(d)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclasses.dataclass(frozen=True)
class EvolveConfig(DictConfig):
    """A MAP-Elites run (PAPER.md §4). Defaults: the paper's MNIST direct-encoding run.

    Attributes:
        model: registered classifier name.
        weights: weights file replacing the model's default ones.
        encoding: ``"direct"`` or ``"cppn"``.
        generations: offspring generations after the initial random batch (generation 0).
        seed: seeds every random choice of the run.
        batch_size: offspring per generation.
        init_size: genomes in the initial random batch.
        classes: target classes, indices or class names (``None``: every class of the
            model); names are resolved against the model's labels (``resolve_classes``).
        device: where the classifier, the archive and the genomes live.
        eval_batch_size: largest batch of genomes rendered and scored at once, and of network
            inputs per forward pass (``None``: 1024 genomes, and the classifier's default
            forward batch: 32 on the CPU for ImageNet-sized inputs, 1024 otherwise).
        checkpoint_every: generations between checkpoints (one is always written at the end).
        size: rendered image side (``None``: the classifier's preferred image size, e.g. 256
            for the ImageNet networks; the classifier resizes and crops to its input).
        mutation_rate, eta_m, crossover, crossover_rate, eta_c, halve_every: direct encoding.
            The defaults are the paper's text: mutation alone (``crossover`` off; on MNIST the
            released code's SBX slowed the search, README) with the rate halved every 1000
            generations (``halve_every=0``: constant, as the released code).
        cppn_inputs: CPPN encoding.
        colour: 3-channel colour decoding: ``"hls"`` (released code), ``"hsv"``, or, for the
            direct encoding, ``"rgb"``.
        genome_dtype: direct-encoding genome storage, ``"float32"`` or ``"uint8"`` (``None``:
            uint8 for colour images, so 1000 ImageNet champions fit in 200 MB; float32 for
            grey ones, as the MNIST runs always were).
        autocast: ``"bf16"`` or ``"fp16"``: score under ``torch.autocast``.
        crop: override the classifier's crop policy (``"center"`` or ``"ten"``).
        mean_image: a mean-image file for the classifier (``caffenet``; LeNet with
            ``subtract_mean``).
        subtract_mean: LeNet: the released code's query preprocessing, mean image subtracted.
        scramble: LeNet: the image as the released code's grey-image bug fed the network
            (PAPER.md §1.1, ``fooling.models.zoo.Scrambled``), an ablation.
        input_size, mean, std, labels: preprocessing of a ``module.path:factory`` model.
    """

    model: str = "lenet-mnist"
    weights: str | None = None
    encoding: str = "direct"
    generations: int = 200
    seed: int = 0
    batch_size: int = 200
    init_size: int = 200
    classes: tuple[int | str, ...] | None = None
    device: str = "cpu"
    eval_batch_size: int | None = None
    checkpoint_every: int = 50
    size: int | None = None
    mutation_rate: float = 0.1
    eta_m: float = 15.0
    crossover: bool = False
    crossover_rate: float = 0.5
    eta_c: float = 10.0
    halve_every: int = 1000
    cppn_inputs: str = "normalized"
    colour: str = "hls"
    genome_dtype: str | None = None
    autocast: str | None = None
    crop: str | None = None
    mean_image: str | None = None
    subtract_mean: bool = False
    scramble: bool = False
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: str | None = None

    def __post_init__(self) -> None:
        check_seed(self.seed)
        positive = ("generations", "batch_size", "init_size", "eval_batch_size", "checkpoint_every")
        for key in positive:
            value = getattr(self, key)
            if value is not None or key != "eval_batch_size":
                check_positive_int(key, value)
        if self.size is not None and not 0 < self.size <= MAX_IMAGE_SIZE:
            raise ConfigError(f"size must be in 1..{MAX_IMAGE_SIZE}, got {self.size}")
        check_user_model_options(self.input_size, self.std)
        if self.classes is not None:
            if not self.classes:
                raise ConfigError("classes must not be empty")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError("classes must not repeat")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"unknown encoding {self.encoding!r}; known: {', '.join(ENCODINGS)}")
        if self.cppn_inputs not in ("normalized", "raw"):
            raise ConfigError(
                f"cppn_inputs must be 'normalized' or 'raw', got {self.cppn_inputs!r}"
            )
        if self.colour not in ("hls", "hsv", "rgb"):
            raise ConfigError(f"colour must be 'hls', 'hsv' or 'rgb', got {self.colour!r}")
        if self.colour == "rgb" and self.encoding == "cppn":
            raise ConfigError("colour 'rgb' is for the direct encoding; the CPPN takes hls or hsv")
        if self.genome_dtype not in (None, "float32", "uint8"):
            raise ConfigError(
                f"genome_dtype must be 'float32' or 'uint8', got {self.genome_dtype!r}"
            )
        if self.autocast not in (None, *AUTOCAST):
            raise ConfigError(f"autocast must be 'bf16' or 'fp16', got {self.autocast!r}")
        if self.crop not in (None, "center", "ten"):
            raise ConfigError(f"crop must be 'center' or 'ten', got {self.crop!r}")

    def model_options(self) -> dict[str, Any]:
        """The classifier's own options that this config sets (``create_classifier``)."""
        options: dict[str, Any] = {
            "mean_image": self.mean_image,
            "input_size": self.input_size,
            "mean": self.mean,
            "std": self.std,
            "labels": self.labels,
        }
        if self.subtract_mean:
            options["subtract_mean"] = True
        if self.scramble:
            options["scramble"] = True
        return {k: v for k, v in options.items() if v is not None}


MAX_SEED = 2**63 - 1
MAX_IMAGE_SIZE = 4096  # a side beyond which a population of images cannot fit in memory


def check_seed(seed: object) -> None:
    """Raise a ``ConfigError`` unless ``seed`` is an integer in 0 .. 2^63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..2^63-1, got {seed!r}")


def check_user_model_options(input_size: int | None, std: Sequence[float] | None) -> None:
    """Raise a ``ConfigError`` for a ``module:factory`` model's bad input side or std."""
    if input_size is not None and not 0 < input_size <= MAX_IMAGE_SIZE:
        raise ConfigError(f"input_size must be in 1..{MAX_IMAGE_SIZE}, got {input_size}")
    if std is not None and any(v == 0 for v in std):
        raise ConfigError("std must not be zero")


def resolve_classes(
    classes: Sequence[int | str] | None, labels: Sequence[str], model: str
) -> list[int]:
    """Class indices for ``classes`` (indices, or names matched case-insensitively against
    ``labels``); every class where ``classes`` is ``None``.

    Raises:
        ConfigError: an index out of range, an unknown or ambiguous name, or a repeat.
    """
    n = len(labels)
    if classes is None:
        return list(range(n))

    def key(name: str) -> str:  # case and the spaces around commas do not matter
        return ",".join(part.strip() for part in name.lower().split(","))

    lookup: dict[str, list[int]] = {}
    for k, label in enumerate(labels):
        lookup.setdefault(key(label), []).append(k)
    out: list[int] = []
    bad: list[int] = []
    items = list(classes)
    i = 0
    while i < len(items):
        c = items[i]
        i += 1
        if isinstance(c, str) and c.strip().isdigit():
            c = int(c)
        if isinstance(c, int):
            (out if 0 <= c < n else bad).append(c)
            continue
        hits = lookup.get(key(c), [])
        # A name with commas in it ("tights for gymnastics, a one-piece leotard, ...") comes
        # split at them from a comma-separated list: join the following names back on.
        j = i
        while not hits and j < len(items) and isinstance(items[j], str):
            j += 1
            joined = key(",".join(str(x) for x in items[i - 1 : j]))
            if joined in lookup:
                hits, c, i = lookup[joined], ", ".join(str(x) for x in items[i - 1 : j]), j
        if not hits:
            near = [lab for lab in labels if c.strip().lower() in lab.lower()][:5]
            hint = f" (did you mean: {', '.join(near)}?)" if near else ""
            raise ConfigError(f"{model} has no class named {c!r}{hint}")
        if len(hits) > 1:
            raise ConfigError(
                f"class name {c!r} is ambiguous in {model}: classes "
                f"{', '.join(map(str, hits))}; give the index"
            )
        out.append(hits[0])
    if bad:
        raise ConfigError(f"classes {bad} out of range for {model} ({n})")
    if len(set(out)) != len(out):
        raise ConfigError("classes must not repeat")
    return out


def load_classifier(
    classifier: Classifier | None,
    model: str,
    classes: Sequence[int | str] | None,
    **options: Any,
) -> tuple[Classifier, list[int]]:
    """The run's network and its target class indices, on every rank at once.

    Args:
        classifier: the network, if the caller has one; else
            ``create_classifier(model, **options)`` builds it.
        model: the registered name.
        classes: as :func:`resolve_classes` takes them.
        options: ``create_classifier``'s keyword arguments.

    The network is probed once, so one that returns the wrong shape or NaN fails with one
    line before a run writes anything. An error on any rank (a weights file one machine
    lacks) is raised on every rank (``distributed.together``), and so is a network that
    differs between the ranks (another weights file at the same path).
    """

    def load() -> tuple[Classifier, list[int]]:
        clf = create_classifier(model, **options) if classifier is None else classifier
        clf.probe()
        labels = [clf.spec.label(k) for k in range(clf.spec.num_classes)]
        return clf, resolve_classes(classes, labels, clf.spec.name)

    clf, targets = distributed.together(load)
    if distributed.world_size() > 1 and distributed.unequal(clf.fingerprint()) is not None:
        raise ConfigError(
            f"the ranks loaded different {clf.spec.name} networks: its weights, preprocessing "
            "or labels differ between the machines"
        )
    return clf, targets
