"""The pure helpers of benchmarks/common.py: markdown tables, RESULTS.md sections, conv FLOP counts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gensr_bench_common", BENCH / "common.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


common = _load()


def test_markdown_table_layout_and_cells() -> None:
    text = common.markdown_table(["model", "MP/s", "note"], [["a", 1.23456, None], ["b|c", 2, float("nan")]])
    assert text.splitlines() == [
        "| model | MP/s | note |",
        "|:--|--:|--:|",
        "| a | 1.23 | – |",
        "| b\\|c | 2 | – |",
    ]
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        common.markdown_table(["a", "b", "c"], [[1, 2]])
    with pytest.raises(ValueError, match="align"):
        common.markdown_table(["a", "b"], [], align="l")


def test_replace_section_keeps_the_other_sections() -> None:
    text = common.replace_section("# Title\n", "quality", "q1")
    text = common.replace_section(text, "speed", "s1\n")
    assert text == (
        "# Title\n\n<!-- begin quality -->\nq1\n<!-- end quality -->\n"
        "\n<!-- begin speed -->\ns1\n<!-- end speed -->\n"
    )
    again = common.replace_section(text, "quality", "q2 line 1\nq2 line 2")
    assert again == text.replace("q1", "q2 line 1\nq2 line 2")
    assert common.replace_section(again, "speed", "s1") == again  # idempotent
    with pytest.raises(ValueError, match="no end marker"):
        common.replace_section("<!-- begin speed -->\nx\n", "speed", "y")


def test_write_section_creates_and_updates_the_file(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    common.write_section("speed", "one", out)
    common.write_section("quality", "two", out)
    common.write_section("speed", "three", out)
    text = out.read_text()
    assert text.startswith("# gensr benchmark results")
    assert "three" in text and "one" not in text
    assert text.index("two") < text.index("three")  # quality goes before speed (SECTIONS order)


def test_missing_section_is_placed_by_order() -> None:
    text = common.replace_section("# T\n", "c", "C", order=("a", "b", "c"))
    text = common.replace_section(text, "a", "A", order=("a", "b", "c"))
    text = common.replace_section(text, "b", "B", order=("a", "b", "c"))
    text = common.replace_section(text, "z", "Z", order=("a", "b", "c"))  # unknown: at the end
    assert [text.index(x) for x in "ABCZ"] == sorted(text.index(x) for x in "ABCZ")


def test_conv_flops_counts_each_conv_at_its_output_size() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 2*3*8*9 per pixel at 10x12
        nn.PixelShuffle(2),  # 8 -> 2 channels at 20x24
        nn.Conv2d(2, 4, 1, stride=2),  # 2*2*4*1 per pixel at 10x12
        nn.Conv2d(4, 4, 3, padding=1, groups=2),  # 2*(4/2)*4*9 per pixel at 10x12
        nn.ConvTranspose2d(4, 2, 2, stride=2),  # 2*4*2*4 per input pixel at 10x12
    )
    px = 10 * 12
    expected = 2 * px * (3 * 8 * 9 + 2 * 4 * 1 + 2 * 4 * 9 + 4 * 2 * 4)
    assert common.conv_flops(net, (2, 3, 10, 12)) == 2 * expected  # batch of 2
    assert next(net.parameters()).device.type == "cpu"  # the module itself is untouched


def test_matmul_gflops_is_positive_and_finite() -> None:
    g = common.matmul_gflops(torch.float32, n=64, repeats=2)
    assert set(g) == {"wall", "cpu"}
    assert all(0 < v < float("inf") for v in g.values())
