"""The Ray executor on real Ray clusters: a local one the run starts, and a ``ray start --head`` joined by address.

Every table a Ray run writes must equal the local executor's, byte for byte
(timings live only in the manifest). Faults are real: an actor process is
killed with SIGKILL mid-run; bad addresses and impossible resource requests
must fail with exit code 3 within bounded time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from builders import basic_audit, write_audit
from conftest import TESTS, command_line, descendants, ray_or_skip

ROOT = Path(__file__).resolve().parents[2]
TABLES = (
    "metrics",
    "summary",
    "contracts",
    "correlations",
    "calibration",
    "pca",
    "marginalization",
    "rex",
    "disagreement",
    "differences",
    "corruptions",
    "flips",
)
NOISE = """
        [[tests]]
        name = "noise"
        kind = "perturbed"
        dataset = "test"
        metrics = ["accuracy"]
        perturbations = [{ name = "gaussian_noise", severities = [1, 3, 5] }, { name = "pixelate", severities = [2, 4] }]
"""
SMALL_RAY = """
        [execution]
        object_store_mb = 128
        resource_timeout_s = 60
        batch_timeout_s = 120
"""


@pytest.fixture(autouse=True)
def _ray_installed():
    ray_or_skip()


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real command in a fresh process (a Ray driver owns its process: signals, atexit, the cluster)."""
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "uspec_audit", "run", *args, "--no-reports", "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_same_tables(left: Path, right: Path) -> None:
    """Every result table and every prediction file of two runs are identical files."""
    compared = 0
    for name in TABLES:
        a, b = left / f"{name}.parquet", right / f"{name}.parquet"
        assert a.exists() == b.exists(), name
        if a.exists():
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)
            assert a.read_bytes() == b.read_bytes(), f"{name}.parquet differs"
            compared += 1
    predictions = sorted(p.relative_to(left) for p in (left / "predictions").rglob("*.parquet"))
    assert predictions == sorted(p.relative_to(right) for p in (right / "predictions").rglob("*.parquet"))
    for relative in predictions:
        assert (left / relative).read_bytes() == (right / relative).read_bytes(), relative
    assert compared >= 8 and predictions


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def derm_like_audit(folder: Path) -> Path:
    """A small version of audits/derm.toml: ONNX and TorchScript ensembles, strata, corruptions, contrastive."""
    derm = ROOT / "examples" / "derm"
    return write_audit(
        folder / "derm.toml",
        f"""
        [audit]
        name = "derm-small"
        seed = 20201106
        output = "{folder / "results"}"
        batch_size = 50

        [ensembles.cnn]
        members = ["{derm}/models/seed-0.onnx", "{derm}/models/seed-1.onnx", "{derm}/models/seed-2.onnx"]
        task = "multiclass"
        preprocess = {{ layout = "NCHW", scale = 255.0, mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25] }}

        [ensembles.cnn-torchscript]
        loader = "torch"
        members = ["{derm}/models/seed-0.pt", "{derm}/models/seed-1.pt"]
        task = "multiclass"
        preprocess = {{ layout = "NCHW", scale = 255.0, mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25] }}

        [datasets.test]
        source = "parquet"
        path = "{derm}/data/test.parquet"
        id = "id"
        attributes = ["fitzpatrick", "camera"]
        limit = 240
        synthetic = true

        [datasets.counterfactual]
        source = "parquet"
        path = "{derm}/data/counterfactual.parquet"
        id = "id"
        attributes = ["fitzpatrick", "lesion_id"]
        limit = 120
        synthetic = true

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy", "nll"]

        [[tests]]
        name = "skin-type"
        kind = "stratified"
        dataset = "test"
        by = "fitzpatrick"
        metrics = ["accuracy"]

        [[tests]]
        name = "corruptions"
        kind = "perturbed"
        dataset = "test"
        ensembles = ["cnn"]
        metrics = ["accuracy"]
        perturbations = [{{ name = "gaussian_noise", severities = [2] }}, {{ name = "defocus_blur", severities = [3] }}]

        [[tests]]
        name = "counterfactual-skin"
        kind = "contrastive"
        dataset = "counterfactual"
        ensembles = ["cnn"]
        link = "lesion_id"
        metrics = ["accuracy"]

        [analysis]
        permutations = 100
        bootstrap = 50
        member_bootstrap = 50
        {SMALL_RAY}
        """,
    )


def test_digits_on_a_local_ray_cluster_gives_the_local_tables(digits_world, tmp_path):
    """`--executor ray` with no address starts a local cluster (all cores), runs, and stops it."""
    audit = basic_audit(digits_world, tmp_path, extra=NOISE, analysis=SMALL_RAY)
    local = run_cli(str(audit), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = run_cli(str(audit), "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert on_ray.returncode == 0, on_ray.stderr
    assert_same_tables(tmp_path / "local", tmp_path / "ray")
    execution = manifest(tmp_path / "ray")["execution"]
    assert execution["executor"] == "ray" and execution["address"] is None
    assert execution["actors"] == 2 and execution["nodes"] == 1 and execution["actor_restarts"] == 0
    assert manifest(tmp_path / "local")["execution"] == {"executor": "local"}
    assert manifest(tmp_path / "ray")["timings"]["units_computed"] == 7  # 2 unperturbed streams + 5 variants
    # the run's own cluster is gone: no daemon of a default-located (ray.init) cluster outlives the command
    leftovers = [
        p
        for p in descendants(1)
        if "/tmp/ray/session" in command_line(p)
        and ("raylet" in command_line(p) or "gcs_server" in command_line(p))
    ]
    assert not leftovers, [command_line(p)[:200] for p in leftovers]


def test_derm_like_audit_on_a_joined_cluster_matches_and_a_cached_rerun_needs_no_cluster(ray_head, tmp_path):
    audit = derm_like_audit(tmp_path)
    local = run_cli(str(audit), "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = run_cli(
        str(audit), "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", ray_head.address
    )
    assert on_ray.returncode == 0, on_ray.stderr
    assert_same_tables(tmp_path / "local", tmp_path / "ray")
    execution = manifest(tmp_path / "ray")["execution"]
    assert execution["address"] == ray_head.address and execution["actors"] == 2
    members = [m for e in manifest(tmp_path / "ray")["ensembles"] for m in e["members"]]
    assert {tuple(m["providers"]) for m in members} == {("CPUExecutionProvider",), ("torch:cpu",)}
    again = run_cli(
        str(audit), "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", "127.0.0.1:9"
    )
    assert again.returncode == 0, (
        again.stderr
    )  # everything cached: the (unreachable) cluster is never contacted
    assert json.loads(again.stdout)["timings"]["units_computed"] == 0


def _member_hosts(head) -> list[int]:
    return [p for p in descendants(head.process.pid) if command_line(p).startswith("ray::MemberHost")]


def test_an_actor_killed_mid_run_is_restarted_and_the_tables_are_unchanged(digits_world, ray_head, tmp_path):
    """Also runs the producers anywhere in the cluster (data = "shared"), each checking the data's fingerprint."""
    audit = basic_audit(
        digits_world,
        tmp_path,
        extra=NOISE.replace("[1, 3, 5]", "[1, 2, 3, 4, 5]").replace("[2, 4]", "[1, 2, 3, 4, 5]"),
        analysis=SMALL_RAY + '        data = "shared"\n',
    )
    audit.write_text(audit.read_text().replace("batch_size = 128", "batch_size = 16"))
    units = 12  # iid and shifted streams + 10 noise variants
    reference = run_cli(str(audit), "--out", str(tmp_path / "local"))
    assert reference.returncode == 0, reference.stderr
    cache = tmp_path / "ray" / ".cache" / "predictions"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uspec_audit",
            "run",
            str(audit),
            "--no-reports",
            "--json",
            "--out",
            str(tmp_path / "ray"),
            "--executor",
            "ray",
            "--address",
            ray_head.address,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    killed = None
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and killed is None:
        hosts = _member_hosts(ray_head)
        done = len(list(cache.glob("[0-9a-f]*.unit")))
        # mid-run: some units done and several streams still to come (a loop starved by a busy machine can look
        # late; killing an actor after its last batch would test nothing, so it waits for another run instead)
        if hosts and 1 <= done <= units - 4:
            killed = hosts[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=300)
    assert killed is not None, "inference finished before an actor could be killed; make the audit longer"
    assert process.returncode == 0, stderr
    assert killed not in _member_hosts(ray_head)
    execution = manifest(tmp_path / "ray")["execution"]
    assert execution["actor_restarts"] >= 1 and execution["data"] == "shared"
    assert json.loads(stdout)["timings"]["units_computed"] >= 1
    assert_same_tables(tmp_path / "local", tmp_path / "ray")


def test_a_killed_driver_leaves_no_actors_and_the_rerun_resumes(digits_world, ray_head, tmp_path):
    audit = basic_audit(
        digits_world, tmp_path, extra=NOISE.replace("[1, 3, 5]", "[1, 2, 3, 4, 5]"), analysis=SMALL_RAY
    )
    audit.write_text(audit.read_text().replace("batch_size = 128", "batch_size = 16"))
    command = [str(audit), "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", ray_head.address]
    cache = tmp_path / "ray" / ".cache" / "predictions"
    process = subprocess.Popen(
        [sys.executable, "-m", "uspec_audit", "run", *command, "--no-reports", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and len(list(cache.glob("[0-9a-f]*.unit"))) < 2:
        time.sleep(0.02)
    interrupted = process.poll() is None
    process.kill()
    process.wait()
    finished_before = len(list(cache.glob("[0-9a-f]*.unit")))
    assert interrupted, "the run finished before it could be killed; make the audit longer"
    assert not (tmp_path / "ray" / "manifest.json").exists()
    deadline = time.time() + 60  # the cluster reaps the actors of a driver that died
    while _member_hosts(ray_head) and time.time() < deadline:
        time.sleep(0.5)
    assert not _member_hosts(ray_head)
    resumed = run_cli(*command)
    assert resumed.returncode == 0, resumed.stderr
    timings = json.loads(resumed.stdout)["timings"]
    assert timings["units_reused"] >= finished_before >= 2 and timings["units_computed"] >= 1
    reference = run_cli(str(audit), "--out", str(tmp_path / "local"))
    assert reference.returncode == 0, reference.stderr
    assert_same_tables(tmp_path / "local", tmp_path / "ray")


def test_bad_addresses_fail_fast_with_exit_code_3(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    started = time.monotonic()
    refused = run_cli(str(audit), "--executor", "ray", "--address", "127.0.0.1:9", timeout=60)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in json.loads(refused.stdout)["message"]
    malformed = run_cli(str(audit), "--executor", "ray", "--address", "no-port-here", timeout=60)
    assert malformed.returncode == 3 and "is not host:port" in json.loads(malformed.stdout)["message"]
    # bounded, not timed: Ray itself keeps retrying a refused address for over 10 minutes; two CLI starts take
    # seconds on a quiet machine and up to a minute on a loaded one
    assert time.monotonic() - started < 120
    assert not (tmp_path / "results" / "manifest.json").exists()


def test_a_port_that_answers_but_is_no_cluster_times_out_with_exit_code_3(digits_world, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        audit = basic_audit(digits_world, tmp_path, analysis="[execution]\nconnect_timeout_s = 4")
        started = time.monotonic()
        result = run_cli(
            str(audit), "--executor", "ray", "--address", f"127.0.0.1:{server.getsockname()[1]}", timeout=90
        )
        assert result.returncode == 3, result.stdout + result.stderr
        message = json.loads(result.stdout)["message"]
        assert "did not finish within 4 s" in message or "cannot join the Ray cluster" in message
        assert time.monotonic() - started < 60
    finally:
        server.close()


def test_resources_the_cluster_lacks_are_an_error_not_a_hang(digits_world, ray_head, tmp_path):
    audit = basic_audit(digits_world, tmp_path, analysis="[execution]\nnum_gpus = 1\nresource_timeout_s = 3")
    started = time.monotonic()
    result = run_cli(str(audit), "--executor", "ray", "--address", ray_head.address, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    message = json.loads(result.stdout)["message"]
    assert "has 2 CPUs and 0 GPUs" in message and "1 GPU" in message, message
    assert time.monotonic() - started < 60
    # actors that fit in total but not on any node: placement times out instead of hanging
    audit = basic_audit(
        digits_world,
        tmp_path,
        analysis="[execution]\nactors = 1\nnum_cpus = 2\nproducer_cpus = 1\nbatch_timeout_s = 5",
    )
    result = run_cli(str(audit), "--executor", "ray", "--address", ray_head.address, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "within 5 s" in json.loads(result.stdout)["message"]


def test_address_without_the_ray_executor_is_an_argument_error(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    result = run_cli(str(audit), "--address", "127.0.0.1:6379", timeout=60)
    assert result.returncode == 2 and "--executor ray" in json.loads(result.stdout)["message"]


def test_workers_refuse_models_and_data_that_differ_from_the_drivers(digits_world, tmp_path):
    """What runs on a worker, called here directly: corrupt model bytes and other data are errors, not results."""
    from uspec_audit.config.models import Dataset
    from uspec_audit.engine.plan import WorkGroup
    from uspec_audit.engine.ray_workers import StreamRequest, materialize, produce_stream
    from uspec_audit.errors import RunError
    from uspec_audit.kind_api import Variant

    data = digits_world.onnx_members[0].read_bytes()
    good = __import__("hashlib").sha256(data).hexdigest()
    assert materialize(data, good, ".onnx", "seed-0.onnx").read_bytes() == data
    with pytest.raises(RunError, match="the transfer is corrupt"):
        materialize(data[:-1], good, ".onnx", "seed-0.onnx")
    dataset = Dataset(source="parquet", path=str(digits_world.parquet), id="id")
    request = StreamRequest(
        group=WorkGroup("test", Variant()),
        dataset=dataset,
        base_dir=tmp_path,
        fingerprint="0" * 64,
        verify=True,
        seed=1,
        batch_size=64,
        feature_stats=None,
    )
    with pytest.raises(RunError, match="differs from the driver's"):
        next(produce_stream(request))


def test_the_command_line_overrides_the_execution_table():
    from uspec_audit.config.models import Execution
    from uspec_audit.engine.inference import resolve_execution
    from uspec_audit.errors import AuditFileError

    in_file = Execution(executor="ray", address="10.0.0.1:6379")
    assert resolve_execution(in_file, None, None) == in_file
    assert resolve_execution(in_file, "local", None).address is None  # --executor local: no cluster
    assert resolve_execution(Execution(), "ray", "h:1").address == "h:1"
    with pytest.raises(AuditFileError, match="--executor ray"):
        resolve_execution(Execution(), None, "h:1")


ACTOR_THAT_CANNOT_LOAD = """
import logging, sys, ray
from uspec_audit.engine.ray_executor import _translate
from uspec_audit.engine.ray_workers import MemberHost, MemberJob, ModelShelf
ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
shelf = ray.remote(ModelShelf).options(name="shelf-test", num_cpus=0).remote()
ray.get(shelf.keep.remote("ab" * 32, [ray.put(b"other bytes")]))
job = MemberJob(ensemble="cnn", index=0, name="seed-0", loader="onnx", options={}, output_index=0, input_name=None,
                task="multiclass", suffix=".onnx", sha256="ab" * 32, fingerprint="ab" * 32, source="/models/seed-0.onnx")
host = ray.remote(MemberHost).options(num_cpus=1, max_restarts=2, max_task_retries=2).remote(
    [job], "shelf-test", ray.get_runtime_context().namespace, "cpu", 1, {}, [], "/")
try:
    ray.get(host.describe.remote(), timeout=60)
except Exception as error:
    print(str(_translate(error, "starting the member actors")))
"""


def test_an_actor_that_cannot_load_its_model_is_a_clear_error(ray_head):
    """The actor itself refuses bytes whose hash is not the driver's; the error reaches the user as ours."""
    out = subprocess.run(
        [sys.executable, "-c", ACTOR_THAT_CANNOT_LOAD, ray_head.address],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""  # Ray's own notices come first
    assert last.startswith("/models/seed-0.onnx: the model bytes that reached the worker"), (
        out.stdout + out.stderr
    )


FACTORY_ON_A_WORKER = """
import hashlib, logging, sys, ray
from uspec_audit.engine.ray_executor import _translate
from uspec_audit.engine.ray_workers import MemberHost, MemberJob, ModelShelf
ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
data = open(sys.argv[2], "rb").read()
sha = hashlib.sha256(data).hexdigest()
shelf = ray.remote(ModelShelf).options(name="shelf-factory", num_cpus=0).remote()
ray.get(shelf.keep.remote(sha, [ray.put(data)]))
job = MemberJob(ensemble="net", index=0, name="seed-0", loader="torch", options={"factory": "builders:tiny_net"},
                output_index=0, input_name=None, task="multiclass", suffix=".pt", sha256=sha, fingerprint=sha,
                source=sys.argv[2])
for allowed in ([], ["builders"]):
    host = ray.remote(MemberHost).options(num_cpus=1, max_restarts=0).remote(
        [job], "shelf-factory", ray.get_runtime_context().namespace, "cpu", 1, {}, allowed, "/")
    try:
        print("loaded:", ray.get(host.describe.remote(), timeout=120)["members"]["net/0"]["name"])
    except Exception as error:
        print("refused:", str(_translate(error, "starting the member actors")))
    ray.kill(host)
"""


def test_factories_run_on_workers_only_with_the_drivers_opt_in(digits_world, ray_head, tmp_path):
    """--allow-code reaches the actors: a worker refuses a factory the command did not enable, and an enabled one
    gives the local executor's tables."""
    audit = write_audit(
        tmp_path / "factory.toml",
        f"""
        [audit]
        name = "factory"
        output = "{tmp_path / "results"}"
        batch_size = 32

        [ensembles.net]
        loader = "torch"
        members = ["{digits_world.state_dict}"]
        task = "multiclass"
        preprocess = {{ layout = "NCHW", scale = 255.0 }}
        options = {{ factory = "builders:tiny_net" }}

        [datasets.test]
        source = "parquet"
        path = "{digits_world.parquet}"
        id = "id"
        attributes = ["parity"]
        limit = 200

        [[tests]]
        name = "iid"
        kind = "iid"
        dataset = "test"
        metrics = ["accuracy"]

        [[tests]]
        name = "parity"
        kind = "stratified"
        dataset = "test"
        by = "parity"
        metrics = ["accuracy"]
        {SMALL_RAY}
        """,
    )
    out = subprocess.run(
        [sys.executable, "-c", FACTORY_ON_A_WORKER, ray_head.address, str(digits_world.state_dict)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith(("refused:", "loaded:"))]
    assert len(lines) == 2, out.stdout + out.stderr
    assert lines[0].startswith("refused:") and "--allow-code builders" in lines[0], lines[0]
    assert lines[1] == "loaded: seed-0", lines[1]
    local = run_cli(str(audit), "--out", str(tmp_path / "local"), "--allow-code", "builders")
    assert local.returncode == 0, local.stderr
    refused = run_cli(
        str(audit), "--out", str(tmp_path / "ray"), "--executor", "ray", "--address", ray_head.address
    )
    assert refused.returncode == 2 and "--allow-code builders" in json.loads(refused.stdout)["message"]
    on_ray = run_cli(
        str(audit),
        "--out",
        str(tmp_path / "ray"),
        "--executor",
        "ray",
        "--address",
        ray_head.address,
        "--allow-code",
        "builders",
    )
    assert on_ray.returncode == 0, on_ray.stderr
    assert_same_tables(tmp_path / "local", tmp_path / "ray")
