"""Session fixtures shared by the core tests: one workspace, each model converted and quantized once."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest

from core.convert import ConvertConfig, convert_model
from core.quantize import QuantizeConfig, quantize_model
from core.workspace import Workspace


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="session")
def lenet_fp(workspace):
    """LeNet5 as FP32 and FP16 IR (about a second)."""
    return convert_model(ConvertConfig("lenet5-mnist"), workspace=workspace)


@pytest.fixture(scope="session")
def lite0_fp(workspace):
    """EfficientNet-Lite0 as FP32 and FP16 IR (about 7 s)."""
    return convert_model(ConvertConfig("efficientnet-lite0"), workspace=workspace)


@pytest.fixture(scope="session")
def lenet_int8(workspace, lenet_fp):
    """The first INT8 variant of LeNet5 (so it is named `int8`), with the progress it reported."""
    phases = []
    result = quantize_model(
        QuantizeConfig("lenet5-mnist", calibration="builtin:mnist", subset_size=300),
        workspace=workspace,
        progress=phases.append,
    )
    return result, phases


@pytest.fixture(scope="session")
def lite0_int8(workspace, lite0_fp):
    """The first INT8 variant of EfficientNet-Lite0 (about 20 s)."""
    return quantize_model(
        QuantizeConfig("efficientnet-lite0", calibration="builtin:imagenet-samples", subset_size=300),
        workspace=workspace,
    )


def copy_variants(source: Workspace, target: Workspace, model_id: str, variant_ids: Iterable[str]) -> None:
    """Stored variants copied folder by folder (files and manifest), for a test that needs its own workspace."""
    for variant_id in variant_ids:
        folder = source.require_variant(model_id, variant_id).folder
        shutil.copytree(folder, target.model_dir(model_id) / variant_id)


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
