"""Train your own: a ConvNet trained here on real digits, from the CLI and as a job, registered like any
other model (class names, preprocessing, held-out set), converted, cancellable; and the page renders."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.data import load_dataset
from core.data.builtin import mnist_set
from core.errors import DatasetError, InputError, JobCancelledError
from core.jobs import JobContext
from core.qat import QatConfig
from core.registry import build_torch_model, class_names, get_model
from core.train import TrainConfig, convnet_layers, load_histories, train_job, train_model
from core.workspace import Workspace

APP = "/work/main/app.py"
DIGITS = {"0": "zero", "1": "one", "2": "two"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("train-ws"))


def _digit_zip(path, classes: dict[str, str], per_class: int) -> str:
    """A zip with one folder per class of real MNIST digits (PNG), like a user's upload."""
    counts = dict.fromkeys(classes, 0)
    with zipfile.ZipFile(path, "w") as archive:
        for sample in mnist_set("evaluation"):
            if sample.label in counts and counts[sample.label] < per_class:
                counts[sample.label] += 1
                buffer = io.BytesIO()
                sample.image().save(buffer, format="PNG")
                archive.writestr(f"digits/{classes[sample.label]}/{sample.name}.png", buffer.getvalue())
    return str(path)


@pytest.fixture(scope="module")
def trained(ws):
    """`python -m core train` for one epoch of the default ConvNet on the built-in digits, as --json."""
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        args = ["train", "--name", "digits", "--dataset", "builtin:mnist", "--epochs", "1", "--seconds", "1"]
        code = main([*args, "--json", "--workspace", str(ws.root)])
    assert code == 0
    return json.loads(out.getvalue())


def test_one_mnist_epoch_beats_95_percent_on_held_out_digits(trained, ws):
    assert trained["model_id"] == "digits"
    assert trained["epochs_done"] == 1
    assert trained["best_epoch"] == 1
    assert trained["dataset"]["train"] == 4230
    assert trained["dataset"]["heldout"] == 470
    assert trained["heldout_accuracy"] > 0.95
    # the converted OpenVINO model keeps it, on the same held-out images
    assert set(trained["variants"]) == {"fp32", "fp16"}
    assert trained["evaluation"]["size"] == 470
    assert trained["evaluation"]["scores"]["fp32"]["top1"] > 0.95


def test_trained_model_joins_the_registry_with_classes_preprocessing_and_held_out_set(trained, ws):
    spec = get_model("digits", ws)
    assert (spec.source, spec.architecture, spec.weights, spec.labels) == (
        "trained",
        "convnet",
        "state-dict",
        "mnist",
    )
    assert class_names(spec) == [str(d) for d in range(10)]
    assert spec.input_shape == (1, 1, 28, 28)
    assert spec.preprocess.std == (255.0,)
    heldout = load_dataset(spec.heldout_ref(ws), workspace=ws)
    assert len(heldout) == 470
    assert heldout.labelled
    with Path(spec.heldout_ref(ws)).open(newline="") as handle:
        sources = {row["source"] for row in csv.DictReader(handle)}
    assert len(sources) == 470
    assert all(name.startswith("mnist_") for name in sources)
    module = build_torch_model(spec, ws)  # rebuilt from model.json by the registered "convnet" builder
    names = [name for name, _ in module.named_modules()]
    assert {"block1.conv", "block1.bn", "block4.pool", "gap", "classifier"} <= set(names)
    layers = convnet_layers(1, (16, 32, 64, 128), 10, 28)
    assert sum(r["parameters"] for r in layers) == sum(p.numel() for p in module.parameters())
    history = load_histories(ws, "digits").items[-1]
    assert history.status == "done"
    assert history.registered
    assert len(history.epochs) == 1
    assert history.steps
    assert history.epochs[0]["heldout_accuracy"] == trained["heldout_accuracy"]


def test_a_taken_name_is_refused_before_training(trained, ws):
    with pytest.raises(InputError, match="already exists"):
        train_model(TrainConfig("digits"), workspace=ws)
    with pytest.raises(InputError, match="already exists"):
        train_model(TrainConfig("lenet5-mnist"), workspace=ws)


def test_training_on_a_class_folder_zip_works(ws, tmp_path):
    archive = _digit_zip(tmp_path / "digits.zip", DIGITS, 24)
    result = train_model(
        TrainConfig(
            "zip-digits", dataset=archive, epochs=3, input_size=16, color="RGB", widths=(8, 16), seconds=1
        ),
        workspace=ws,
    )
    spec = get_model("zip-digits", ws)
    assert spec.labels == "custom"
    assert spec.class_list == ("one", "two", "zero")
    assert spec.input_shape == (1, 3, 16, 16)
    assert result.dataset["train"] + result.dataset["heldout"] == 72
    assert result.dataset["heldout"] == 7
    assert result.evaluation is not None
    assert result.evaluation["size"] == 7
    assert {v.id for v in ws.variants("zip-digits")} == {"fp32", "fp16"}


def test_a_zip_with_one_class_is_refused_with_a_clear_message(ws, tmp_path):
    archive = _digit_zip(tmp_path / "one.zip", {"7": "seven"}, 12)
    with pytest.raises(DatasetError, match="one class only.*at least two classes"):
        train_model(TrainConfig("one-class", dataset=archive), workspace=ws)
    assert "one-class" not in ws.model_ids()


def test_bad_settings_are_refused_with_what_to_do():
    with pytest.raises(InputError, match="halve 8 px to nothing"):
        TrainConfig("x", input_size=8, widths=(8, 8, 8, 8)).check()
    with pytest.raises(InputError, match="held-out share"):
        TrainConfig("x", holdout=0.9).check()
    for config in (TrainConfig, lambda *a, **k: QatConfig("lenet5_mnist", "builtin:mnist", **k)):
        with pytest.raises(InputError, match="at least 10 images"):
            config("x", limit=3).check()
        with pytest.raises(InputError, match="0 \\(no latency measurement\\) or more"):
            config("x", seconds=-1).check()


class _StopInSecondEpoch:
    """A reporter that answers 'cancelled' as soon as the second epoch reports progress."""

    def __init__(self):
        self.phases: list[str] = []

    def progress(self, job_id, progress) -> bool:
        self.phases.append(progress.phase)
        return not progress.phase.startswith("epoch 2/")

    def log(self, job_id, line) -> None:
        pass


def test_cancel_keeps_the_best_checkpoint_so_far(ws):
    reporter = _StopInSecondEpoch()
    ctx = JobContext("test-cancel", ws, reporter=reporter)
    config = {"name": "cancelled-net", "model_id": "cancelled-net", "dataset": "builtin:mnist", "epochs": 3, "limit": 600,
              "widths": [8, 16]}  # fmt: skip
    with pytest.raises(JobCancelledError):
        train_job(config, ws, ctx)
    assert "epoch 1/3" in reporter.phases
    assert "epoch 3/3" not in reporter.phases
    spec = get_model("cancelled-net", ws)  # registered with the first epoch's weights
    module = build_torch_model(spec, ws)
    assert sum(p.numel() for p in module.parameters()) > 0
    history = load_histories(ws, "cancelled-net").items[-1]
    assert history.status == "cancelled"
    assert history.registered
    assert history.best_epoch == 1
    assert len(history.epochs) == 1
    assert "best epoch (1) is registered" in history.message


def test_cancel_from_the_job_service_stops_the_worker_and_keeps_the_best_epoch(tmp_path):
    """The app's path: cancel marks the job and stops its worker process with SIGTERM mid-training."""
    import time

    from core.jobs import JobService, JobState

    root = Workspace(tmp_path / "svc")
    service = JobService(root, poll_seconds=0.1)
    try:
        config = {"name": "svc-net", "model_id": "svc-net", "dataset": "builtin:mnist", "epochs": 30, "limit": 600,
                  "widths": [8, 16]}  # fmt: skip
        job = service.submit("train", config, title="train svc-net")
        deadline = time.monotonic() + 120
        while not any(h.epochs for h in load_histories(root, "svc-net").items):
            assert time.monotonic() < deadline, service.log_tail(job.id)
            time.sleep(0.1)
        service.cancel(job.id)
        assert service.wait(job.id, 30).state == JobState.CANCELLED
    finally:
        service.shutdown()
    history = load_histories(root, "svc-net").items[-1]
    assert history.status == "cancelled"
    assert history.registered
    assert 1 <= len(history.epochs) < 30
    spec = get_model("svc-net", root)
    assert build_torch_model(spec, root) is not None
    assert len(spec.class_list) == 10


def test_train_page_renders(monkeypatch, tmp_path, trained, ws):
    for root in (tmp_path / "empty", ws.root):
        monkeypatch.setenv("OVDASH_WORKSPACE", str(root))
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        at.switch_page("app_pages/train.py")
        at.run()
        assert not at.exception, at.exception
        assert [t.label for t in at.tabs] == [
            "Train your own",
            "Quantization-aware training",
            "Channel pruning",
            "Weight compression",
        ]
        layers = at.dataframe[0].value
        assert list(layers["layer"])[:2] == ["block1.conv", "block1.bn"]
        assert list(layers["layer"])[-1] == "classifier"
    assert any(
        "is a model now" in m.value for m in at.markdown
    )  # the newest run, with links to take it further
    st.cache_resource.clear()
