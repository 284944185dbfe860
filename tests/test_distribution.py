"""The distribution a user installs: `python -m build` makes an sdist and a wheel, and the
wheel works from a fresh virtual environment, away from the source tree.

Two installs of the same wheel:

* served: the wheel alone (``--no-deps``) in a venv that sees this interpreter's
  site-packages through a ``.pth`` line, so torch and the model are not installed a second
  time (gigabytes, minutes). A ``.pth`` line only adds a directory: the editable install's
  finder in that directory is never run, so ``promptprint`` resolves to the wheel (checked).
  That venv's ``promptprint serve`` answers a client call made with that venv's Python.
* client-only: the wheel with its base dependencies, resolved by pip from the configured
  index (pinned by requirements.txt as constraints); torch, FAISS, numpy and
  sentence-transformers must not be importable there, and ``promptprint.client`` must be.

Every command runs with cwd in a temp folder and without PYTHONPATH, so nothing can come
from the checkout by accident. About 25 s in all with a warm pip cache.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "faiss", "numpy", "sentence_transformers")


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


def _run(command: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; on failure, fail the test with its output (a bare CalledProcessError hides it)."""
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _clean_env() -> dict[str, str]:
    """This environment minus what would let a child see the checkout or this venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _copy_source_tree(dest: Path) -> None:
    """The files git would ship (tracked, plus new files not ignored): building from a copy
    leaves no egg-info or build/ behind in the checkout, and no local .venv or .so gets in."""
    listing = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not shipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """sdist and wheel of this checkout; the wheel is built from the sdist, as `build` does,
    so a source missing from the sdist fails here."""
    source = tmp_path_factory.mktemp("source")
    out = tmp_path_factory.mktemp("dist")
    _copy_source_tree(source)
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source], cwd=source)
    (sdist,) = out.glob("promptprint-*.tar.gz")
    (wheel,) = out.glob("promptprint-*.whl")
    return Dist(sdist, wheel)


def _new_venv(path: Path) -> Path:
    """A venv without pip of its own (this interpreter's pip installs into it with --python);
    returns its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", path], cwd=path.parent)
    return path / "bin" / "python"


def _pip_install(python: Path, *args: str | Path) -> None:
    _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", *args], cwd=python.parents[2], env=_clean_env())


def _site_packages(python: Path) -> Path:
    return Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=python.parents[2]).strip())


def test_sdist_is_the_package_its_c_sources_and_metadata(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for needed in ("pyproject.toml", "setup.py", "LICENSE", "README.md", "promptprint/py.typed",
                   "promptprint/text/_canonical.c", "promptprint/text/_shingles.c", "promptprint/text/_shingle_hash.h",
                   "promptprint/v1/fingerprint_pb2.py", "promptprint/v1/fingerprint_pb2.pyi"):
        assert needed in names, needed
    tops = {n.split("/", 1)[0] for n in names}
    assert tops <= {"promptprint", "promptprint.egg-info", "pyproject.toml", "setup.py", "setup.cfg", "LICENSE",
                    "README.md", "MANIFEST.in", "PKG-INFO"}, tops


def test_wheel_ships_compiled_extensions_types_and_license_not_c_sources(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read("promptprint-0.1.0.dist-info/METADATA").decode()
    assert {n.split("/", 1)[0] for n in names} == {"promptprint", "promptprint-0.1.0.dist-info"}
    for module in ("_canonical", "_shingles"):
        assert any(n.startswith(f"promptprint/text/{module}.") and n.endswith(".so") for n in names), module
    assert {"promptprint/py.typed", "promptprint/v1/fingerprint_pb2.pyi", "promptprint-0.1.0.dist-info/licenses/LICENSE"} <= names
    assert not [n for n in names if n.endswith((".c", ".h"))]
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    # A client-only install: the gRPC stack at the generated code's floors, and tqdm for the CLI.
    assert [r for r in requires if "extra ==" not in r] == [
        "grpcio>=1.85.1", "grpcio-status>=1.85.1", "grpcio-health-checking>=1.85.1", "protobuf>=7.35.1",
        "googleapis-common-protos>=1.73.1", "tqdm>=4.66",
    ]
    assert 'torch>=2.13; extra == "server"' in requires and 'faiss-cpu>=1.9; extra == "server"' in requires


@pytest.fixture
def served_venv(dist: Dist, tmp_path: Path) -> Path:
    """The wheel alone in a fresh venv; the server's dependencies come from this
    interpreter's site-packages (a .pth line), not from a second install."""
    python = _new_venv(tmp_path / "venv")
    host = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (_site_packages(python) / "promptprint-host-deps.pth").write_text("".join(f"{p}\n" for p in host))
    _pip_install(python, "--no-deps", dist.wheel)
    return python


@pytest.fixture
def served(served_venv: Path, tmp_path: Path) -> Iterator[str]:
    """That venv's `promptprint serve` on a free loopback port; yields host:port and stops
    it with SIGTERM (graceful), which must exit 0."""
    port_file = tmp_path / "port"
    log_path = tmp_path / "server.log"
    command = [str(served_venv.parent / "promptprint"), "serve", "--data-dir", str(tmp_path / "data"),
               "--listen", "127.0.0.1:0", "--port-file", str(port_file), "--threads", "1", "--workers", "2",
               "--embedding-policy", "all"]  # the one prompt gets its vector, from the wheel's embedding worker
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while not (port_file.exists() and port_file.read_text().strip()):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"promptprint serve did not start (exit {server.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port_file.read_text().strip()}"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert code == 0, log_path.read_text()[-3000:]


# The client call, run by the served venv's Python: where promptprint and its server parts
# come from, then one prompt in and the index's count back.
CLIENT_CALL = """
import importlib.util, json, sys
import promptprint, promptprint.text._canonical as canonical
from promptprint.client import PromptprintClient
from promptprint.records import PromptRecord, parse_timestamp

record = PromptRecord(prompt_id="dist-1", account_id="a-1", org_id="o-1",
                      created_at_ms=parse_timestamp("2026-02-01T00:00:00Z"), text="Summarize this ticket for me.")
with PromptprintClient(sys.argv[1], timeout=120) as client:
    client.wait_until_serving(timeout=120)
    summary = client.ingest([record])
    stats = client.wait_indexed(timeout=300)
print(json.dumps({"promptprint": promptprint.__file__, "canonical": canonical.__file__,
                  "server": importlib.util.find_spec("promptprint.server.app").origin,
                  "torch": importlib.util.find_spec("torch").origin,
                  "accepted": summary.accepted, "prompt_count": stats.prompt_count, "indexed_count": stats.indexed_count}))
"""


def test_wheel_serves_from_a_fresh_venv_away_from_the_source(served_venv: Path, served: str, tmp_path: Path) -> None:
    venv = served_venv.parents[1]
    answer = json.loads(_run([served_venv, "-c", CLIENT_CALL, served], cwd=tmp_path, env=_clean_env()).strip().splitlines()[-1])
    for key in ("promptprint", "canonical", "server"):
        assert Path(answer[key]).is_relative_to(venv), (key, answer[key])
    assert not Path(answer["torch"]).is_relative_to(venv)  # the host's torch, seen through the .pth line
    assert (answer["accepted"], answer["prompt_count"], answer["indexed_count"]) == (1, 1, 1)


# Run by the client-only venv's Python: the client imports, the heavy libraries do not.
CLIENT_ONLY = """
import importlib, json
import promptprint.client, promptprint.cli
missing = []
for name in {heavy!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        missing.append(name)
print(json.dumps({{"client": promptprint.client.__file__, "missing": missing}}))
"""


def test_client_only_install_has_no_torch_or_faiss(dist: Dist, tmp_path: Path) -> None:
    python = _new_venv(tmp_path / "venv")
    _pip_install(python, dist.wheel, "-c", REPO / "requirements.txt")
    answer = json.loads(_run([python, "-c", CLIENT_ONLY.format(heavy=HEAVY)], cwd=tmp_path, env=_clean_env()).strip())
    assert Path(answer["client"]).is_relative_to(tmp_path / "venv")
    assert answer["missing"] == list(HEAVY)
