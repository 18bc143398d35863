"""Suite-wide settings for running the tests on several processes (`make test`: pytest -n 2).

Under pytest-xdist each worker is a separate process on a machine with about as many cores as
workers, so:

* each worker, and every `dllab` or lesson subprocess it starts, gets one intra-op thread
  (unless OMP_NUM_THREADS says otherwise): two workers with two threads each only wait on
  each other, and a test that sets its own thread count still does;
* with `--dist loadgroup` (the Makefile) the tests that share a costly fixture run on one
  worker, so the fixture (a short training run) is built once, not once per worker: a group
  is every user of one module-scoped fixture, or of a session fixture in SHARED_SESSION, or
  of one `xdist_group` mark. The workers compute the groups from the fixtures and hand them
  to the scheduler below; xdist's own loadgroup (3.8) cannot, as it marks a group by editing
  node ids, which pytest 9.2 no longer reads (pytest-xdist issue #1386);
* files are collected heaviest first (integration, lessons, tasks, deploy), so the long tests
  start early and the many quick ones fill the gaps at the end.

None of this changes what a test checks; a plain `pytest` run (no -n) is unaffected except
for the order of the files.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import _warm

# Lessons and lab commands record progress in the learner's workspace: never the real one's.
# Each process of the suite makes its own and removes it when it ends (they used to pile up).
if "DLLAB_LAB" not in os.environ:
    os.environ["DLLAB_LAB"] = tempfile.mkdtemp(prefix="dllab-lab-tests-")
    atexit.register(shutil.rmtree, os.environ["DLLAB_LAB"], ignore_errors=True)

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by torch here and in subprocesses
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _torch_settings_restored():
    """A run in the test process applies its recipe's `train.threads` and `deterministic`
    to the whole process (`experiment._configure_torch`); put them back after every test, or
    a recipe's 2 threads stay on in a worker that shares 2 cores with another (FCOS's
    overfitting test took 36 s inside the suite and 3 s alone)."""
    torch = sys.modules.get("torch")  # a test that never imported torch changed nothing
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def run_dllab(
    *args: str, cwd: Path, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run `python -m dllab ARGS` and capture its output (never raises on failure).

    The process is forked from a warm interpreter (`tests/_warm.py`: the same command in a
    process of its own, without 4 s of imports); DLLAB_TESTS_COLD=1 starts a new one instead.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return _warm.run_module("dllab", *args, cwd=cwd, env=full_env, timeout=timeout)


@pytest.fixture(scope="session")
def dllab():
    """The real `dllab` command as a function: `dllab("run", "quickstart", cwd=tmp_path)`."""
    return run_dllab


def load_benchmark_script(name: str):
    """Import `benchmarks/NAME.py` as python runs a script (its folder on sys.path, for _cli)."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


@pytest.fixture(scope="session")
def benchmark_script():
    """A benchmark script as a module: `benchmark_script("detection").export_scenes(...)`."""
    return load_benchmark_script


# Session-scoped fixtures worth building only once (a short training run each)
SHARED_SESSION = {"quick_run", "finished_run"}
HEAVY_FIRST = (
    "integration",
    "lessons",
    "serve",
    "tasks",
    "deploy",
)  # top-level folders under tests/
GROUPS_KEY = "dllab_groups_file"  # workerinput: where the workers write {node id: group}
GROUPS_FILE = pytest.StashKey[str]()  # the same path, in the controller


def _group(item: pytest.Item) -> str | None:
    """The group of a test: its xdist_group, or the costly fixture it shares with others."""
    mark = item.get_closest_marker("xdist_group")
    if mark:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    for name in item.fixturenames:
        defs = item._fixtureinfo.name2fixturedefs.get(name)
        if not defs:
            continue
        if name in SHARED_SESSION:
            return name
        if defs[-1].scope == "module":
            return item.nodeid.split("::")[0]
    return None


def _weight(item: pytest.Item) -> int:
    parts = item.nodeid.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
    return HEAVY_FIRST.index(folder) if folder in HEAVY_FIRST else len(HEAVY_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_weight)  # stable: each file stays in one piece, in its own order


@pytest.hookimpl(tryfirst=True)  # before xdist sends the collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    target = getattr(session.config, "workerinput", {}).get(GROUPS_KEY)
    if not target:
        return
    groups = {item.nodeid: g for item in session.items if (g := _group(item)) is not None}
    tmp = Path(f"{target}.{os.environ.get('PYTEST_XDIST_WORKER', 'w')}")
    tmp.write_text(json.dumps(groups), encoding="utf-8")
    os.replace(tmp, target)  # every worker writes the same map; the last one stays


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # controller, one call per worker
    config = node.config
    if GROUPS_FILE not in config.stash:
        fd, path = tempfile.mkstemp(prefix="dllab-xdist-groups-", suffix=".json")
        os.close(fd)
        config.stash[GROUPS_FILE] = path
        config.add_cleanup(lambda: Path(path).unlink(missing_ok=True))
    node.workerinput[GROUPS_KEY] = config.stash[GROUPS_FILE]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        """loadgroup with the groups the workers computed; other tests go one by one."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # read once, after every worker has collected
                try:
                    text = Path(config.stash.get(GROUPS_FILE, "")).read_text(encoding="utf-8")
                    self.groups = json.loads(text or "{}")
                except (OSError, ValueError):
                    self.groups = {}
            return self.groups.get(nodeid, nodeid)

    return SharedFixtureScheduling(config, log)
