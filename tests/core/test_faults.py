"""Faults a real deployment meets: a damaged job table, damaged results, a full disk, racing writers,
a crash mid-swap, a restarted server, lost fsyncs, stale leftovers.

Each test checks the message a user sees and that the workspace is unchanged or restored. Hostile
files are made here, never committed; crashes and full disks happen in real subprocesses.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.errors import CoreError, DiskFullError
from core.jobs import JobService, JobState
from core.jobs.executors import INTERRUPTED_MESSAGE
from core.jobs.service import worker_alive
from core.jobs.store import JobStore
from core.report import build_report
from core.results import load_benchmarks, load_evaluations
from core.tradeoffs import collect
from core.workspace import DISK_RESERVE_ENV, MANIFEST, Workspace, file_sha256, write_json
from tests.core.job_fixtures import register_test_kinds, wait_for

ROOT = Path(__file__).resolve().parents[2]

register_test_kinds()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture
def service(workspace: Workspace):
    job_service = JobService(workspace, poll_seconds=0.05)
    yield job_service
    job_service.shutdown()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its content hash: equal snapshots mean nothing changed."""
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter of this project (a crash or a file-size limit stays in there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT, env=env, **kwargs)


def add_variant(ws: Workspace, model_id: str, variant_id: str, token: str) -> Path:
    landed: list = []
    with ws.write_variant(model_id, variant_id, {"token": token}, result=landed) as folder:
        (folder / "data.txt").write_text(token * 100)
    return landed[0].folder


def whole(folder: Path) -> str:
    """The token of a stored variant, after checking that its files are the ones its manifest lists."""
    manifest = json.loads((folder / MANIFEST).read_text())
    files = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    assert files == set(manifest["files"]), (
        f"{folder} holds {files}, its manifest lists {set(manifest['files'])}"
    )
    for name, entry in manifest["files"].items():
        assert file_sha256(folder / name) == entry["sha256"], (
            f"{folder / name} is not the file its manifest hashed"
        )
    assert (folder / "data.txt").read_text() == manifest["token"] * 100
    return manifest["token"]


def leftovers(ws: Workspace) -> list[Path]:
    """Temporary files of atomic writes, staging folders and swap journals: a clean workspace has none."""
    return [*ws.root.rglob(".*.tmp"), *(ws.root / "tmp").iterdir(), *ws.models_dir.glob("*/.swap-*.json")]


# 7 -----------------------------------------------------------------------------------------------


def test_a_corrupt_job_table_is_moved_aside_and_a_fresh_one_started(workspace):
    add_variant(workspace, "m", "v", "kept")
    workspace.save_result("benchmark", "m", {"model_id": "m", "runs": []})
    before = {"models": snapshot(workspace.models_dir), "results": snapshot(workspace.root / "results")}
    garbage = b"this is not a database" + bytes(range(256)) * 16
    workspace.jobs_db.write_bytes(garbage)

    service = JobService(workspace, poll_seconds=0.05)
    try:
        [notice] = service.notices
        assert notice.startswith(
            "The job table was damaged (DatabaseError: file is not a database) and was moved aside to "
            "jobs.sqlite.damaged-"
        )
        assert "a fresh one was started. Models, variants and results are untouched" in notice
        [aside] = workspace.root.glob("jobs.sqlite.damaged-*")
        assert aside.name in notice
        assert aside.read_bytes() == garbage
        assert service.list() == []
        job = service.submit("test-count", {"steps": 1}, title="after the repair")
        assert service.wait(job.id).state == JobState.SUCCEEDED  # the fresh table works
    finally:
        service.shutdown()
    assert snapshot(workspace.models_dir) == before["models"]
    assert snapshot(workspace.root / "results") == before["results"]


def test_a_database_with_another_jobs_table_is_moved_aside_too(workspace):
    with sqlite3.connect(workspace.jobs_db) as db:
        db.execute("CREATE TABLE jobs (id INTEGER)")
    service = JobService(workspace, poll_seconds=0.05)
    try:
        [notice] = service.notices
        assert "it was not made by this app" in notice
        assert "moved aside to jobs.sqlite.damaged-" in notice
        job = service.submit("test-count", {"steps": 1}, title="after the repair")
        assert service.wait(job.id).state == JobState.SUCCEEDED
    finally:
        service.shutdown()


def test_deeply_nested_json_is_a_damaged_file_not_a_crash(workspace):
    """'[' * 100,000 makes json.loads raise RecursionError: every reader names the file and goes on."""
    add_variant(workspace, "m", "good", "kept")
    add_variant(workspace, "m", "deep", "lost")
    deep = "[" * 100_000
    (workspace.model_dir("m") / "deep" / MANIFEST).write_text(deep)
    (workspace.root / "results" / "benchmark").mkdir(parents=True, exist_ok=True)
    (workspace.root / "results" / "benchmark" / "20260101T000000000000Z-deep.json").write_text(deep)
    assert [v.id for v in workspace.variants("m")] == ["good"]
    assert workspace.damaged_variants("m") == [("deep", f"{MANIFEST} is nested too deeply to read")]
    with pytest.raises(CoreError, match="the deep variant of m cannot be used: its .*nested too deeply"):
        workspace.require_variant("m", "deep")
    reasons = {d.path.name: d.reason for d in collect(workspace).damaged}
    assert "nested too deeply" in reasons["20260101T000000000000Z-deep.json"]
    build_report(workspace)  # no exception
    add_variant(workspace, "lenet5-mnist", "deep", "lost")  # a model the CLI lists
    (workspace.model_dir("lenet5-mnist") / "deep" / MANIFEST).write_text(deep)
    found = python("import sys; from core.cli import main; sys.exit(main(sys.argv[1:]))",
                   "models", "--workspace", str(workspace.root))  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert (
        "warning: lenet5-mnist deep is damaged and left out: its manifest.json is nested too deeply"
        in found.stderr
    )


def test_unreadable_job_rows_show_as_damaged_never_run_and_can_be_deleted(workspace):
    store = JobStore(workspace.jobs_db)
    bad_settings = store.create("test-count", {"steps": 1}, title="bad settings")
    bad_state = store.create("test-count", {"steps": 1}, title="bad state")
    fine = store.create("test-count", {"steps": 1}, title="fine")
    with sqlite3.connect(workspace.jobs_db) as db:
        db.execute("UPDATE jobs SET config = '{\"steps\": ' WHERE id = ?", (bad_settings.id,))
        db.execute("UPDATE jobs SET state = 'exploded' WHERE id = ?", (bad_state.id,))

    service = JobService(workspace, poll_seconds=0.05)
    try:
        assert service.wait(fine.id).state == JobState.SUCCEEDED  # one bad row stops nothing
        listed = {r.id: r for r in service.list()}
        assert [listed[i].state for i in (bad_settings.id, bad_state.id)] == [JobState.DAMAGED] * 2
        assert listed[bad_settings.id].title == "bad settings"
        assert re.fullmatch(
            r"this job's record in the job table cannot be read: its settings are not valid JSON \(.+\); "
            r"delete it from the list",
            listed[bad_settings.id].error,
        )
        assert listed[bad_state.id].error == (
            "this job's record in the job table cannot be read: its state 'exploded' is not one this version "
            "knows; delete it from the list"
        )
        # the damaged queued row was never started with settings it cannot read
        with sqlite3.connect(workspace.jobs_db) as db:
            row = db.execute(
                "SELECT state, pid, started FROM jobs WHERE id = ?", (bad_settings.id,)
            ).fetchone()
        assert row == ("queued", None, None)
        assert service.log_tail(bad_settings.id) == ""
        service.delete(bad_settings.id)
        service.delete(bad_state.id)
        assert [r.id for r in service.list()] == [fine.id]
    finally:
        service.shutdown()


# 8 -----------------------------------------------------------------------------------------------


def test_damaged_result_files_are_skipped_with_a_reason_and_views_still_work(workspace):
    expected = {}
    for kind, lacks in (("benchmark", "runs"), ("evaluation", "dataset")):
        folder = workspace.root / "results" / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "20260101T000000000000Z-m.json").write_bytes(b'{"model_id": "m\xff\xfe"}')
        (folder / "20260101T000000000001Z-m.json").write_text("[1, 2, 3]")
        (folder / "20260101T000000000002Z-m.json").write_text(
            json.dumps({"model_id": "m", "note": "no runs"})
        )
        expected[kind] = {
            "20260101T000000000000Z-m.json": "is not UTF-8 text",
            "20260101T000000000001Z-m.json": "holds a JSON list, not a result object",
            "20260101T000000000002Z-m.json": f"lacks '{lacks}'",
        }
    before = snapshot(workspace.root / "results")

    for kind, loaded in (
        ("benchmark", load_benchmarks(workspace)),
        ("evaluation", load_evaluations(workspace)),
    ):
        assert loaded.items == ()
        reasons = {d.path.name: d.reason for d in loaded.damaged}
        assert set(reasons) == set(expected[kind])
        for name, reason in expected[kind].items():
            assert reason in reasons[name], f"{kind}/{name}: {reasons[name]}"
    found = collect(workspace)
    assert found.points == ()
    assert len(found.damaged) == 6
    page = build_report(workspace)
    for damaged in found.damaged:
        assert f"Skipped a damaged result file: {html.escape(str(damaged))}" in page
    assert "Skipped a damaged result file: benchmark/20260101T000000000002Z-m.json" in page
    assert snapshot(workspace.root / "results") == before  # skipped, never rewritten or removed


# 9 -----------------------------------------------------------------------------------------------


def test_a_job_is_refused_before_queuing_when_the_disk_is_short(workspace, service, monkeypatch):
    monkeypatch.setenv(DISK_RESERVE_ENV, str(10**9))
    pattern = (
        r"not enough free disk for a convert job: (?P<free>[\d,]+) MB free in .+, about 200 MB needed plus a "
        r"reserve of 1,000,000,000 MB; free some space or point OVDASH_WORKSPACE at a larger disk "
        r"\(OVDASH_DISK_RESERVE_MB sets the reserve\)"
    )
    with pytest.raises(DiskFullError) as refused:
        workspace.check_free_space(200, "a convert job")
    free = int(re.fullmatch(pattern, str(refused.value))["free"].replace(",", ""))
    assert free == pytest.approx(shutil.disk_usage(workspace.root).free / 1e6, rel=0.05, abs=50)
    with pytest.raises(DiskFullError, match=r"not enough free disk for a test-count job: [\d,]+ MB free"):
        service.submit("test-count", {"steps": 1}, title="too big")
    assert service.list() == []  # refused before it was queued


_FULL_DISK_WRITES = """
    import json, resource, signal, sys
    from pathlib import Path
    from core.errors import CoreError, DiskFullError
    from core.workspace import Workspace, write_json

    ws = Workspace(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit then shows as EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
    said = {}
    try:
        write_json(ws.root / "results" / "kept.json", {"big": "x" * 2_000_000})
    except DiskFullError as exc:
        said["json"] = str(exc)
    try:
        with ws.write_variant("m", "v", {"token": "big"}) as folder:
            (folder / "data.txt").write_bytes(b"x" * 2_000_000)
    except DiskFullError as exc:
        said["variant"] = str(exc)
    print(json.dumps(said))
"""


def test_a_write_that_fills_the_disk_says_so_and_leaves_nothing_behind(workspace):
    add_variant(workspace, "m", "v", "old")
    write_json(workspace.root / "results" / "kept.json", {"kept": True})
    before = snapshot(workspace.root)

    done = python(_FULL_DISK_WRITES, str(workspace.root))
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    tail = (
        r": [\d,]+ MB free in .+; free some space, or point OVDASH_WORKSPACE at a larger disk, then try again "
        r"\(nothing was saved, earlier work is intact\)"
    )
    assert re.fullmatch("the disk is full while saving kept.json" + tail, said["json"]), said["json"]
    assert re.fullmatch("the disk is full while saving the v variant of m" + tail, said["variant"]), said
    assert leftovers(workspace) == []
    assert snapshot(workspace.root) == before  # the old file and the old variant are as they were
    assert whole(workspace.require_variant("m", "v").folder) == "old"


_FULL_DISK_CONVERT = """
    import resource, signal, sys
    import openvino, torch  # loaded before the limit, as a worker would have them
    from core.convert import ConvertConfig, convert_model
    from core.errors import CoreError, DiskFullError
    from core.workspace import Workspace

    ws = Workspace(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))
    try:
        convert_model(ConvertConfig("lenet5-mnist"), workspace=ws)
    except DiskFullError as exc:
        print(f"{exc}\\n{exc.__cause__!r}")
"""


def test_converting_onto_a_full_disk_gives_the_plain_message(workspace):
    done = python(_FULL_DISK_CONVERT, str(workspace.root))
    assert done.returncode == 0, done.stderr
    message, cause = done.stdout.strip().splitlines()
    assert re.fullmatch(
        r"the disk is full while saving the fp32 variant of lenet5-mnist: [\d,]+ MB free in .+; free some space, "
        r"or point OVDASH_WORKSPACE at a larger disk, then try again \(nothing was saved, earlier work is intact\)",
        message,
    )
    assert "iostream" not in message
    assert "iostream error" in cause
    assert workspace.variants("lenet5-mnist") == []
    assert leftovers(workspace) == []


# 10 ----------------------------------------------------------------------------------------------

_WRITER = """
    import json, sys, time
    from pathlib import Path
    from core.workspace import Workspace

    root, tag, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ws = Workspace(root)
    (Path(root).parent / f"ready-{tag}").touch()
    while not (Path(root).parent / "go").exists():
        time.sleep(0.001)
    landed = []
    for i in range(count):
        token, found = f"{tag}-{i}", []
        with ws.write_variant("m", "v", {"token": token}, on_conflict=mode, result=found) as folder:
            (folder / "data.txt").write_text(token * 100)
        landed.append([token, found[0].id, found[0].manifest["token"]])
    print(json.dumps(landed))
"""


def race(ws: Workspace, mode: str, count: int) -> list[list[str]]:
    """Two processes write the same variant `count` times each, starting at the same moment."""
    writers = [
        spawn_python(
            _WRITER, str(ws.root), tag, mode, str(count), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for tag in ("a", "b")
    ]
    try:
        wait_for(lambda: all((ws.root.parent / f"ready-{t}").exists() for t in "ab"), what="writers ready")
        (ws.root.parent / "go").touch()
        outputs = [w.communicate(timeout=120) for w in writers]
    finally:
        for w in writers:
            w.kill()
    landed = []
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err  # no raw OSError, nor anything else
        assert not err, err
        landed.extend(json.loads(out))
    (ws.root.parent / "go").unlink()
    for tag in "ab":
        (ws.root.parent / f"ready-{tag}").unlink()
    return landed


def test_two_processes_replacing_one_variant_every_write_lands_whole(workspace):
    landed = race(workspace, "replace", 50)
    assert len(landed) == 100
    assert all(
        variant == "v" and got == token for token, variant, got in landed
    )  # each saw its own write land
    survivor = whole(workspace.require_variant("m", "v").folder)
    assert survivor in ("a-49", "b-49")  # the last write of one of them
    history = workspace.history("m")
    kept = [whole(folder) for _, _, folder in history]
    assert len(kept) == 3
    assert len({survivor, *kept}) == 4
    assert all(int(token.rsplit("-", 1)[1]) >= 46 for token in kept)  # among each writer's last writes
    assert leftovers(workspace) == []


def test_two_processes_renaming_on_conflict_each_write_lands_as_its_own_variant(workspace):
    landed = race(workspace, "rename", 25)
    ids = [variant for _, variant, _ in landed]
    assert sorted(ids) == sorted(["v", *(f"v-{n}" for n in range(2, 51))])
    assert all(got == token for token, _, got in landed)
    stored = {v.id: whole(v.folder) for v in workspace.variants("m")}
    assert stored == {variant: token for token, variant, _ in landed}
    assert workspace.history("m") == []
    assert leftovers(workspace) == []


# 11 ----------------------------------------------------------------------------------------------

_CRASH_MID_SWAP = """
    import os, sys
    from core.workspace import Workspace

    ws = Workspace(sys.argv[1])
    real_replace = os.replace

    def replace_then_die(src, dst):  # the power goes just after the old variant was retired
        real_replace(src, dst)
        if ".history" in str(dst):
            os._exit(9)

    os.replace = replace_then_die
    with ws.write_variant("m", "v", {"token": "new"}) as folder:
        (folder / "data.txt").write_text("new" * 100)
"""


@pytest.mark.parametrize("staging", ["kept", "lost"])
def test_a_swap_cut_short_by_a_crash_is_repaired_on_the_next_read(workspace, staging):
    add_variant(workspace, "m", "v", "old")
    crashed = python(_CRASH_MID_SWAP, str(workspace.root))
    assert crashed.returncode == 9, crashed.stderr
    model = workspace.model_dir("m")
    assert (model / ".swap-v.json").is_file()
    assert not (model / "v").exists()
    [staged] = (workspace.root / "tmp").iterdir()
    if staging == "lost":
        shutil.rmtree(staged)
    else:  # a restarted server cleans tmp/ of dead processes first: that must not lose the new variant
        workspace.clean_stale(upload_max_age_s=3600)

    [variant] = workspace.variants("m")
    assert whole(variant.folder) == ("new" if staging == "kept" else "old")  # rolled forward, or back
    retired = [whole(folder) for _, _, folder in workspace.history("m")]
    assert retired == (["old"] if staging == "kept" else [])  # nothing lost
    assert leftovers(workspace) == []


# 12 ----------------------------------------------------------------------------------------------

_SERVER = """
    import sys, time
    from pathlib import Path
    from core.jobs import JobService, JobState, register_job_kind
    from core.workspace import Workspace

    root, gate = sys.argv[1], sys.argv[2]
    register_job_kind("test-gate", "tests.core.job_fixtures:gate_job")
    service = JobService(Workspace(root), poll_seconds=0.05)
    job = service.submit("test-gate", {"gate": gate}, title="left running")
    while "waiting for the gate" not in service.log_tail(job.id):  # the worker is inside the job
        time.sleep(0.02)
    (Path(root).parent / "server-ready").write_text(job.id)
    time.sleep(120)
"""


@pytest.fixture
def orphan(workspace, tmp_path):
    """A job still running in a worker whose server was killed (SIGKILL: it could not stop anything)."""
    gate = tmp_path / "gate"
    server = spawn_python(_SERVER, str(workspace.root), str(gate), stderr=subprocess.PIPE)
    ready = tmp_path / "server-ready"
    try:
        wait_for(lambda: ready.exists() or server.poll() is not None, what="the server's job running")
        assert ready.exists(), server.communicate()[1]
    finally:
        server.kill()
        server.wait()
        server.stderr.close()
    record = JobStore(workspace.jobs_db).get(ready.read_text())
    assert record.state == JobState.RUNNING
    assert worker_alive(record.pid, record.started)
    yield record, gate
    if worker_alive(record.pid, record.started):
        os.kill(record.pid, signal.SIGKILL)


def test_a_job_left_running_by_a_dead_server_still_counts(workspace, orphan):
    record, gate = orphan
    service = JobService(workspace, poll_seconds=0.05)  # the restarted server, max_parallel=1
    try:
        assert service.get(record.id).state == JobState.RUNNING  # alive: not marked interrupted
        queued = service.submit("test-count", {"steps": 1}, title="waits its turn")
        for _ in range(10):  # several dispatcher cycles: it must not start beside the orphan
            assert service.get(queued.id).state == JobState.QUEUED
            time.sleep(0.05)
        gate.touch()
        first = service.wait(record.id, timeout=20)
        assert first.state == JobState.SUCCEEDED
        assert first.result == {"opened": True}
        second = service.wait(queued.id, timeout=20)
        assert second.state == JobState.SUCCEEDED
        assert second.started >= first.finished
    finally:
        service.shutdown()


def test_two_live_servers_on_one_workspace_keep_to_max_parallel(workspace, tmp_path):
    """A restart that overlaps the old server: both dispatch, and together they run one job at a time."""
    gate = tmp_path / "gate"
    first, second = (JobService(workspace, poll_seconds=0.02) for _ in range(2))
    try:
        gated = first.submit("test-gate", {"gate": str(gate)}, title="running")
        wait_for(lambda: "waiting for the gate" in first.log_tail(gated.id), what="the gated job running")
        queued = [second.submit("test-count", {"steps": 2}, title=f"queued {i}") for i in range(2)]
        for _ in range(10):
            assert all(second.get(job.id).state == JobState.QUEUED for job in queued)
            time.sleep(0.05)
        gate.touch()
        ended = sorted((second.wait(job.id) for job in [gated, *queued]), key=lambda r: r.started)
        assert all(record.state == JobState.SUCCEEDED for record in ended)
        for before, after in zip(ended, ended[1:], strict=False):
            assert after.started >= before.finished, f"{after.title} started while {before.title} ran"
    finally:
        first.shutdown()
        second.shutdown()


def test_cancelling_a_job_of_a_dead_server_stops_its_worker(workspace, orphan):
    record, _ = orphan
    service = JobService(workspace, poll_seconds=0.05)
    try:
        cancelled = service.cancel(record.id)
        assert cancelled.state == JobState.CANCELLED
        assert cancelled.message == "cancelled by the user"
        wait_for(lambda: not worker_alive(record.pid, record.started), what="the orphan worker stopped")
        assert service.get(record.id).state == JobState.CANCELLED  # its own "interrupted" changed nothing
    finally:
        service.shutdown()


def test_a_worker_stopped_with_sigterm_ends_interrupted(service):
    job = service.submit("test-slow", {}, title="stopped")
    pid = wait_for(lambda: (r := service.get(job.id)).state == JobState.RUNNING and r.pid, what="running")
    wait_for(lambda: "slow job started" in service.log_tail(job.id), what="the job function running")
    os.kill(pid, signal.SIGTERM)
    record = service.wait(job.id, timeout=20)
    assert record.state == JobState.INTERRUPTED
    assert record.error is None
    assert (
        record.message
        == INTERRUPTED_MESSAGE
        == "the server stopped while this job was running; submit it again"
    )
    assert "interrupted: the worker was asked to stop" in service.log_tail(job.id)


def test_a_worker_killed_with_sigkill_fails_with_its_exit_code(service):
    job = service.submit("test-slow", {}, title="killed")
    pid = wait_for(lambda: (r := service.get(job.id)).state == JobState.RUNNING and r.pid, what="running")
    os.kill(pid, signal.SIGKILL)
    record = service.wait(job.id, timeout=20)
    assert record.state == JobState.FAILED
    assert record.error == (
        "the worker process exited with code -9 (SIGKILL) before the job ended; see the job log, then submit it again"
    )


# 13 ----------------------------------------------------------------------------------------------


def test_saved_files_and_their_folders_are_flushed_to_disk(workspace, monkeypatch):
    flushed: set[tuple[int, int]] = set()
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:  # the one spy in these tests: durability cannot be seen otherwise
        stat = os.fstat(fd)
        flushed.add((stat.st_dev, stat.st_ino))
        real_fsync(fd)

    def was_flushed(path: Path) -> bool:
        stat = path.stat()
        return (stat.st_dev, stat.st_ino) in flushed

    monkeypatch.setattr(os, "fsync", recording_fsync)

    path = workspace.root / "results" / "settings.json"
    write_json(path, {"a": 1})
    assert was_flushed(path)
    assert was_flushed(path.parent)

    flushed.clear()
    folder = add_variant(workspace, "m", "v", "durable")
    assert sorted(p.name for p in folder.iterdir()) == ["data.txt", MANIFEST]
    assert all(was_flushed(p) for p in folder.iterdir())
    assert was_flushed(folder)
    assert was_flushed(folder.parent)
    assert was_flushed(workspace.models_dir)

    flushed.clear()
    saved = workspace.save_result("benchmark", "m", {"model_id": "m", "runs": []})
    assert was_flushed(saved)
    assert was_flushed(saved.parent)
    assert was_flushed(saved.parent.parent)  # the new results/benchmark folder itself is durable


# 14 ----------------------------------------------------------------------------------------------


def test_stale_staging_and_old_uploads_are_removed_on_start_unless_in_use(workspace, tmp_path, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = workspace.root / "tmp"
    gone = [tmp / f"{dead.pid}-123456-0123456789ab", tmp / f"{dead.pid}--ba9876543210"]
    for folder in gone:
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"half written")
    live = workspace.tmp_dir()
    (live / "model.bin").write_bytes(b"being written")

    files = workspace.uploads_dir / "files"
    # one folder per upload (uploads/files/<random>/<name>), and the older flat files/<random>.<ext>
    needed_zip, finished_with = files / "1a2b" / "photos.zip", files / "3c4d" / "weights.pt"
    unneeded, fresh = files / "5e6f.onnx", files / "7a8b" / "cat.png"
    for path in (needed_zip, finished_with, unneeded, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(path.name.encode()).digest())
    unpacked = workspace.unpacked_dir(needed_zip)
    other_unpacked = workspace.uploads_dir / "0123456789abcdef"
    for folder in (unpacked, other_unpacked):
        folder.mkdir()
        (folder / "img.png").write_bytes(b"png")
    two_hours_ago = time.time() - 7200
    for path in (needed_zip, finished_with, unneeded, unpacked, other_unpacked):
        for old in {path, path.parent} - {files, workspace.uploads_dir}:
            os.utime(old, (two_hours_ago, two_hours_ago))

    store = JobStore(workspace.jobs_db)
    gate = tmp_path / "gate"
    store.create("test-gate", {"gate": str(gate), "calibration": str(needed_zip)}, title="needs the zip")
    done = store.create("test-count", {"steps": 1, "model": str(finished_with)}, title="done with it")
    store.update(done.id, state=JobState.SUCCEEDED)
    monkeypatch.setenv("OVDASH_UPLOAD_TTL_HOURS", "1")

    service = JobService(workspace, poll_seconds=0.05)
    try:
        assert sorted(tmp.iterdir()) == [live]  # staging of a dead process gone, this process's kept
        assert (live / "model.bin").read_bytes() == b"being written"
        left = {p.relative_to(workspace.uploads_dir).as_posix() for p in workspace.uploads_dir.rglob("*")}
        assert left == {
            "files",
            "files/1a2b",
            "files/1a2b/photos.zip",  # a queued job names it
            "files/7a8b",
            "files/7a8b/cat.png",  # fresh
            unpacked.name,  # the unpacked copy of the archive the queued job names
            f"{unpacked.name}/img.png",
        }
    finally:
        gate.touch()
        service.shutdown()
