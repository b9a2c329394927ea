"""The query path imports no torch: each run happens in a fresh Python process that then reports whether
``torch`` is in ``sys.modules``. The index is built (with torch) beforehand and holds its exported model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared_data import CIFAR, WEIGHTS, needs_shared

pytestmark = [needs_shared, pytest.mark.slow]

CLASSES = ("airplane", "cat", "ship")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``photos/`` with 10 CIFAR-10 images of three classes, indexed on the default (ONNX) backend, and a
    query image outside it."""
    from lookalike.collection import index_folder
    from lookalike.features import Embedder

    base = tmp_path_factory.mktemp("torch-free")
    for name in CLASSES:
        (base / "photos" / name).mkdir(parents=True)
        for src in sorted((CIFAR / name).iterdir())[:10]:
            shutil.copyfile(src, base / "photos" / name / src.name)
    shutil.copyfile(sorted((CIFAR / "cat").iterdir())[-1], base / "query.jpg")
    report = index_folder(base / "photos", Embedder(WEIGHTS, num_workers=0, device="cpu"))
    assert (report.location / "model.onnx").is_file()
    return base


def run_fresh(code: str, cwd: Path) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it leaves its answer in ``out``. Returns that answer plus
    ``torch``: whether torch was imported."""
    report = "print(json.dumps({'out': out, 'torch': 'torch' in sys.modules}))"
    script = f"import json, sys\nout = None\n{code}\n{report}"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, env=os.environ, timeout=300
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_search_by_an_image_file_imports_no_torch(site: Path) -> None:
    got = run_fresh(
        "from lookalike.cli import app\n"
        "import contextlib, io\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
        "    app(['search', 'query.jpg', '--index', 'photos/.lookalike', '-k', '3', '--json'])\n"
        "out = json.loads(buf.getvalue())",
        site,
    )
    result = got["out"]
    assert isinstance(result, dict) and len(result["hits"]) == 3 and result["query_kind"] == "file"
    assert result["hits"][0]["relpath"].startswith("cat/")  # a cat finds cats
    assert result["backend"] == "onnx" and got["torch"] is False


def test_search_with_backend_torch_runs_pytorch_and_finds_the_same(site: Path) -> None:
    from typer.testing import CliRunner

    from lookalike.cli import app

    args = ["search", str(site / "query.jpg"), "--index", str(site / "photos" / ".lookalike"), "--json"]
    by_torch = json.loads(CliRunner().invoke(app, [*args, "--backend", "torch"]).stdout)
    by_onnx = json.loads(CliRunner().invoke(app, args).stdout)
    assert (by_torch["backend"], by_onnx["backend"]) == ("torch", "onnx")
    assert [h["relpath"] for h in by_torch["hits"]] == [h["relpath"] for h in by_onnx["hits"]]


def test_the_torch_free_vector_is_the_torch_vector(site: Path) -> None:
    import numpy as np

    from lookalike.features import Embedder

    got = run_fresh(
        "from lookalike.collection import Index\n"
        "with Index.open('photos/.lookalike') as idx:\n"
        "    out = idx.query_vector('query.jpg')[0].tolist()",
        site,
    )
    assert got["torch"] is False
    want = (
        Embedder(WEIGHTS, device="cpu", backend="torch", precision="float32")
        .embed([site / "query.jpg"])[0]
        .numpy()
    )
    vec = np.asarray(got["out"], dtype=np.float32)
    assert float(vec @ want / (np.linalg.norm(vec) * np.linalg.norm(want))) >= 0.9999


def post_fresh(site: Path, request: str) -> tuple[int, dict[str, Any], object]:
    """POST to the web app in a new interpreter: ``request`` sets ``r`` with ``client`` (a TestClient of
    the site's index) and ``data`` (query.jpg's bytes). Returns the status, the JSON body and whether torch
    was imported."""
    pytest.importorskip("fastapi")
    got = run_fresh(
        "from fastapi.testclient import TestClient\n"
        "from lookalike.web.app import create_app\n"
        "client = TestClient(create_app('photos/.lookalike', warm=False))\n"
        "data = open('query.jpg', 'rb').read()\n"
        f"{request}\n"
        "out = [r.status_code, r.json()]",
        site,
    )
    status, body = got["out"]  # type: ignore[misc]
    return status, body, got["torch"]


def test_web_upload_search_imports_no_torch(site: Path) -> None:
    status, body, torch_imported = post_fresh(
        site, "r = client.post('/api/search', params={'k': 3}, files={'file': ('q.jpg', data, 'image/jpeg')})"
    )
    assert status == 200 and len(body["hits"]) == 3
    assert torch_imported is False


def test_web_compare_imports_no_torch(site: Path) -> None:
    status, body, torch_imported = post_fresh(
        site,
        "files = {'a': ('q.jpg', data, 'image/jpeg'), 'b': ('q2.jpg', data, 'image/jpeg')}\n"
        "r = client.post('/api/compare', files=files)",
    )
    assert status == 200 and body["pixels"]["l1"] == 0 and body["features"]["cosine"] == pytest.approx(1)
    assert torch_imported is False


def test_without_an_exported_model_the_first_query_exports_it_once(site: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(site, copy, symlinks=True)
    (copy / "photos" / ".lookalike" / "model.onnx").unlink()
    code = (
        "from lookalike.collection import Index\n"
        "with Index.open('photos/.lookalike') as idx:\n"
        "    out = idx.search('query.jpg', k=1).hits[0].relpath"
    )
    first = subprocess.run(
        [sys.executable, "-c", code.replace("    out = ", "    print(") + ")"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("exporting the model to ONNX once") == 1
    assert (copy / "photos" / ".lookalike" / "model.onnx").is_file()
    again = run_fresh(code, copy)
    assert again["torch"] is False and again["out"] == first.stdout.strip()


def test_compare_with_a_cached_model_imports_no_torch(site: Path, tmp_path: Path) -> None:
    a, b = sorted((site / "photos" / "cat").iterdir())[:2]
    args = f"['compare', {str(a)!r}, {str(b)!r}, '--weights', {str(WEIGHTS)!r}, '--json']"
    code = (
        "from lookalike.cli import app\n"
        "import contextlib, io, json\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):\n"
        f"    app({args})\n"
        "out = json.loads(buf.getvalue())"
    )
    env = {**os.environ, "LOOKALIKE_CACHE": str(tmp_path / "cache")}
    first = subprocess.run([sys.executable, "-c", code], cwd=site, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("exporting the model to ONNX once") == 1  # the first one caches the model
    os.environ["LOOKALIKE_CACHE"], old = env["LOOKALIKE_CACHE"], os.environ["LOOKALIKE_CACHE"]
    try:
        got = run_fresh(code, site)
    finally:
        os.environ["LOOKALIKE_CACHE"] = old
    result = got["out"]
    assert isinstance(result, dict) and result["backend"] == "onnx" and got["torch"] is False
    from lookalike.compare import compare

    want = compare(a, b, weights=WEIGHTS, backend="torch", precision="float32")
    assert want.backend == "torch" and want.pixels and want.features
    for space, scores in (("pixels", want.pixels), ("features", want.features)):
        for name, value in scores.items():
            assert result[space][name] == pytest.approx(value, rel=1e-4, abs=1e-5), (space, name)
