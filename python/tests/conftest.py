"""Shared fixtures for the kestrel tests: where the stories260K models and llm-cli are.

Models come from ../shared (env KESTREL_SHARED_DIR, as for the C++ tests); llm-cli from env
KESTREL_BIN_DIR or <repo>/build/bin. Tests that need either skip with a message saying what is missing.
"""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def shared_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("KESTREL_SHARED_DIR", REPO.parent / "shared"))


def model_path(kind: str = "q4_0") -> str:
    p = shared_dir() / "models" / f"stories260K-{kind}.gguf"
    if not p.is_file():
        pytest.skip(f"{p} not found (set KESTREL_SHARED_DIR to the reference data)")
    return str(p)


def read_ref(kind: str = "q4_0") -> dict:
    """llama.cpp's reference output for a stories260K file (see ../shared/models/README.md)."""
    import json

    p = pathlib.Path(model_path(kind)).with_suffix(".ref.txt")
    ref = {}
    for line in p.read_text().splitlines():
        key, _, rest = line.partition(" ")
        if key in ("prompt_ids", "greedy_ids"):
            ref[key] = [int(x) for x in rest.split()]
        elif key == "greedy_text":
            ref[key] = json.loads(rest)
        elif key == "n_vocab":
            ref[key] = int(rest)
    return ref


def llm_cli() -> str:
    p = pathlib.Path(os.environ.get("KESTREL_BIN_DIR", REPO / "build" / "bin")) / "llm-cli"
    if not os.access(p, os.X_OK):
        pytest.skip(f"{p} not built (set KESTREL_BIN_DIR or build the programs)")
    return str(p)


def run_cli(*args: str) -> bytes:
    return subprocess.run([llm_cli(), *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def q4_model():
    import kestrel

    with kestrel.Model(model_path("q4_0"), n_ctx=128, n_threads=1) as m:
        yield m
