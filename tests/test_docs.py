"""What the documentation names exists: repository paths and ``gensr.module.name`` references in
README.md, DEVELOPERS.md, docs/ and benchmarks/, and the Sphinx-style references (``:func:`...```) in
every docstring of src/; README's Python example runs.
"""

from __future__ import annotations

import ast
import glob
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "gensr"
DOCS = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS += sorted((ROOT / "benchmarks").glob("*.md")) + sorted((ROOT / "benchmarks").glob("*.py"))

TOP = ("src", "tests", "scripts", "benchmarks", "configs", "docs", ".ci")
PATH = re.compile(r"(?<![\w./~-])((?:" + "|".join(map(re.escape, TOP)) + r")/[\w.*/-]*[\w*])")
DOTTED = re.compile(r"(?<![\w./-])(gensr(?:\.\w+)+)")
ROLE = re.compile(r":(func|class|mod|data|meth|attr|exc):`~?([\w.]+)`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _exists(pattern: str, base: Path = ROOT) -> bool:
    pattern = pattern.rstrip(".")
    return (base / pattern).exists() or bool(glob.glob(str(base / pattern)))


def _resolve(dotted: str, namespace: Any = None) -> bool:
    """Whether ``dotted`` names a module, or an attribute reachable from the longest importable prefix
    (or from ``namespace``, a module, for names without the ``gensr.`` prefix)."""
    parts = dotted.split(".")
    if namespace is not None and parts[0] != "gensr":
        obj = namespace
        for p in parts:
            if not hasattr(obj, p):
                return _in_a_class(namespace, parts) or _resolve(dotted)  # or absolute: ast.literal_eval
            obj = getattr(obj, p)
        return True
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for p in parts[cut:]:
            if not hasattr(obj, p):
                return False
            obj = getattr(obj, p)
        return True
    return False


def _in_a_class(module: Any, parts: list[str]) -> bool:
    """``name`` or ``Class.name`` as a method or attribute of a class of ``module`` (:meth: and :attr:)."""
    classes = [v for v in vars(module).values() if isinstance(v, type)]
    return any(hasattr(c, parts[-1]) or parts[-1] in getattr(c, "__annotations__", {}) for c in classes)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_paths_named_in_the_docs_exist() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in PATH.finditer(text):
            if not _exists(m.group(1)):
                missing.append(f"{doc.relative_to(ROOT)}: {m.group(1)}")
        if doc.suffix == ".md":
            for m in LINK.finditer(text):
                target = m.group(1)
                if (
                    "://" not in target
                    and not target.startswith("mailto:")
                    and not _exists(target, doc.parent)
                ):
                    missing.append(f"{doc.relative_to(ROOT)}: link {target}")
    assert not missing, "\n".join(missing)


def test_gensr_names_in_the_docs_exist() -> None:
    missing = [
        f"{doc.relative_to(ROOT)}: {m.group(1)}"
        for doc in DOCS
        for m in DOTTED.finditer(doc.read_text(encoding="utf-8"))
        if not _resolve(m.group(1).rstrip("."))
    ]
    assert not missing, "\n".join(missing)


def test_docstring_references_exist() -> None:
    pytest.importorskip("starlette")  # gensr.serve is imported like every other package
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "__main__.py":  # importing it runs the command line
            continue
        module = importlib.import_module(_module_name(path))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node) or ""
            for role, name in ROLE.findall(doc):
                if not _resolve(name, module):
                    missing.append(f"{path.relative_to(ROOT)}: :{role}:`{name}`")
            for m in PATH.finditer(doc):
                if not _exists(m.group(1)):
                    missing.append(f"{path.relative_to(ROOT)}: {m.group(1)}")
    assert not missing, "\n".join(missing)


def test_the_resolver_is_not_vacuous() -> None:
    import gensr.infer.tiling as tiling

    assert _resolve("gensr.infer.Upscaler.upscale") and _resolve("gensr.infer.tiling")
    assert not _resolve("gensr.infer.no_such_function") and not _resolve("gensr.no_such_module.f")
    assert _resolve("iter_bands", tiling) and not _resolve("band_plan", tiling)
    assert _exists("src/gensr/infer/tiling.py") and not _exists("src/gensr/padding.py")


def test_readme_python_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1 and len(blocks[0].splitlines()) <= 12
    shutil.copyfile(SRC / "samples" / "astronaut.jpg", tmp_path / "photo.jpg")
    done = subprocess.run([sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from gensr.imageio import probe_image

    assert probe_image(tmp_path / "photo_x4.png").width == 4 * probe_image(tmp_path / "photo.jpg").width
