"""Session fixtures shared by the core tests: one workspace, each model converted once."""

from __future__ import annotations

import pytest

from core.convert import ConvertConfig, convert_model
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
