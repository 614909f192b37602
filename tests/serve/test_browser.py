"""The page of ``gensr serve`` in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them and sets
``GENSR_REQUIRE_BROWSER=1``, so CI fails instead of skipping). Screenshots go to ``$GENSR_ARTIFACTS``
(or the test's temporary folder). ``GENSR_DOCS_SCREENSHOT=docs/serve.png`` also writes the README's
screenshot.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from gensr.serve.jobs import ModelEntry

REQUIRED = os.environ.get("GENSR_REQUIRE_BROWSER") == "1"
CHROMIUM = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
DRIVER = shutil.which("chromedriver")
TIMEOUT = 90  # seconds for an upscale on a loaded 2-core machine
LOADED = "document.querySelector('#after').complete && document.querySelector('#before').complete"


def _missing(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"{why} (GENSR_REQUIRE_BROWSER=1)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install selenium)")
    if CHROMIUM is None or DRIVER is None:
        _missing("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1200,1000",
        "--force-device-scale-factor=1",
        "--disable-gpu",
    ):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=opts)
    d.set_script_timeout(30)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def page_server(server_factory: Any, builtin_model: ModelEntry, tiny_model: ModelEntry) -> Iterator[Any]:
    """The built-in model as the default, as a user would see it."""
    with server_factory([builtin_model, tiny_model]) as running:
        yield running


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("GENSR_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait(driver: Any, script: str, timeout: float = TIMEOUT) -> Any:
    """Wait until the JavaScript expression ``script`` is truthy; returns its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(f"return {script}")
    )


def open_page(driver: Any, url: str) -> None:
    driver.get(url + "/")
    wait(driver, "document.querySelector('#model').value === 'gensr-x4'", 30)
    driver.execute_script("localStorage.clear()")


def choose_files(driver: Any, *paths: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))


def items(driver: Any) -> list[dict[str, str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#list li')].map(li => ({state: li.dataset.state,"
        " output: li.dataset.output, job: li.dataset.job, status: li.querySelector('.status').textContent,"
        " meta: li.querySelector('.meta').textContent}))"
    )


def test_page_upscales_a_photo_and_compares(
    driver: Any, page_server: Any, photo_path: Path, artifacts: Path
) -> None:
    url = page_server.url
    open_page(driver, url)
    choose_files(driver, photo_path)
    wait(driver, "document.querySelector('#list li[data-state=done]') !== null")
    [item] = items(driver)
    assert item["output"] == "256x256" and item["status"].startswith("Done in"), item
    assert item["meta"] == "64×64 → 256×256 · gensr-x4"

    # the viewer opened on the finished image: the result at full size, the original under it
    wait(driver, "!document.querySelector('#viewer').hidden && document.querySelector('#after').complete")
    sizes = driver.execute_script(
        "const a = document.querySelector('#after'), b = document.querySelector('#before');"
        "return [a.naturalWidth, a.naturalHeight, b.naturalWidth, b.naturalHeight]"
    )
    assert sizes == [256, 256, 64, 64]
    assert driver.execute_script("return document.querySelector('#viewer-download').download") == (
        "astronaut-face_x4.jpg"
    )
    # 1:1 zoom, then the split slider
    driver.execute_script("document.querySelector('#one').click()")
    assert driver.execute_script("return document.querySelector('#zoom-level').textContent") == "100 %"
    driver.execute_script(
        "const s = document.querySelector('#split'); s.value = 25; s.dispatchEvent(new Event('input'))"
    )
    assert (
        driver.execute_script("return document.querySelector('#before').style.clipPath")
        == "inset(0px 75% 0px 0px)"
    )

    # the result the page shows is the server's result
    job = item["job"]
    data = driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.arrayBuffer())"
        ".then(b => done(Array.from(new Uint8Array(b))))",
        f"/v1/jobs/{job}/result",
    )
    assert PILImage.open(io.BytesIO(bytes(data))).size == (256, 256)
    # nothing was loaded from anywhere else
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(url) or r.startswith("blob:") for r in resources), resources

    shot = artifacts / "serve-page.png"
    assert driver.save_screenshot(str(shot))
    assert PILImage.open(shot).size[0] > 0


def test_page_shows_errors_a_person_can_act_on(
    driver: Any, page_server: Any, tmp_path: Path, artifacts: Path
) -> None:
    open_page(driver, page_server.url)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    huge = tmp_path / "huge.png"
    PILImage.fromarray(np.zeros((200, 200), np.uint8)).save(huge)
    choose_files(driver, notes, huge)
    wait(driver, "document.querySelectorAll('#list li[data-state=failed]').length === 2")
    status = {i["status"].split(" ")[0]: i["status"] for i in items(driver)}
    assert status["notes.txt"] == (
        "notes.txt is not an image gensr can read (it reads PNG, JPEG, WebP, GIF, BMP or TIFF)"
    )
    assert status["huge.png"].startswith("huge.png is 200×200 = 0.04 MP; this server accepts at most")
    driver.save_screenshot(str(artifacts / "serve-errors.png"))


def test_page_takes_many_files_and_zips_them(
    driver: Any, page_server: Any, photo_path: Path, tmp_path: Path
) -> None:
    import httpx

    open_page(driver, page_server.url)
    paths = []
    for k in range(3):
        p = tmp_path / f"crop{k}.png"
        with PILImage.open(photo_path) as im:
            im.crop((k * 8, 0, k * 8 + 24, 24)).save(p)
        paths.append(p)
    choose_files(driver, *paths)
    wait(driver, "document.querySelectorAll('#list li[data-state=done]').length === 3")
    assert [i["output"] for i in items(driver)] == ["96x96"] * 3
    assert driver.execute_script("return document.querySelector('#download-all').textContent") == (
        "Download all 3 (zip)"
    )
    ids = ",".join(i["job"] for i in items(driver))
    r = httpx.get(f"{page_server.url}/v1/results.zip", params={"ids": ids}, timeout=30)
    assert sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == [f"crop{k}_x4.png" for k in range(3)]


def test_page_with_a_token_on_a_network_address(
    driver: Any, server_factory: Any, builtin_model: ModelEntry, photo_path: Path, artifacts: Path
) -> None:
    """127.0.0.2 stands for a LAN address (only 127.0.0.1, ::1, localhost count as loopback)."""
    token = "page-test-token-0123456789"
    with server_factory([builtin_model], host="127.0.0.2", tokens=(token,)) as running:
        # without the token the page loads, and says what to open
        driver.get(running.url + "/")
        wait(driver, "document.querySelector('#notice').textContent.includes('needs its token')", 30)
        # the printed URL: the token becomes a cookie scripts cannot read, and leaves the address bar
        driver.get(f"{running.url}/?token={token}")
        wait(driver, "document.querySelector('#model').value === 'gensr-x4'", 30)
        assert driver.current_url == running.url + "/"
        assert driver.execute_script("return document.cookie") == ""
        choose_files(driver, photo_path)
        wait(driver, "document.querySelector('#list li[data-state=done]') !== null")
        [item] = items(driver)
        assert item["output"] == "256x256", item
        driver.save_screenshot(str(artifacts / "serve-token-page.png"))
        data = driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.arrayBuffer())"
            ".then(b => done(Array.from(new Uint8Array(b))))",
            f"/v1/jobs/{item['job']}/result",
        )
        assert PILImage.open(io.BytesIO(bytes(data))).size == (256, 256)


@pytest.mark.skipif(importlib.util.find_spec("spandrel") is None, reason="spandrel not installed")
def test_page_offers_and_runs_a_community_model(
    driver: Any, server_factory: Any, builtin_model: ModelEntry, photo_path: Path, tmp_path: Path
) -> None:
    """A SPAN file (spandrel's architecture, small random weights) in the menu, named as such, and run."""
    from gensr.models import read_model_info
    from gensr.models.spandrel_import import import_spandrel

    import_spandrel()  # spandrel as gensr imports it (a stand-in where torchvision cannot be imported)
    from spandrel.architectures.SPAN import SPAN

    torch.manual_seed(0)
    path = tmp_path / "4x-span-test.pth"
    torch.save(SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=4).state_dict(), path)
    info = read_model_info(path)
    entry = ModelEntry(name="4x-span-test", path=path, scale=info.scale, arch=info.label)
    with server_factory([builtin_model, entry], tile=64) as running:
        open_page(driver, running.url)
        options = driver.execute_script(
            "return [...document.querySelectorAll('#model option')].map(o => o.textContent)"
        )
        assert options == ["gensr-x4 (compact, ×4)", "4x-span-test (SPAN (spandrel), ×4)"]
        driver.execute_script(
            "const s = document.querySelector('#model'); s.value = '4x-span-test';"
            "s.dispatchEvent(new Event('change'))"
        )
        choose_files(driver, photo_path)
        wait(driver, "document.querySelector('#list li:is([data-state=done], [data-state=failed])') !== null")
        [item] = items(driver)
        assert item["state"] == "done", item["status"]
        assert item["meta"] == "64×64 → 256×256 · 4x-span-test", item
        driver.execute_script("localStorage.clear()")


@pytest.mark.skipif(
    not os.environ.get("GENSR_DOCS_SCREENSHOT"), reason="set GENSR_DOCS_SCREENSHOT=docs/serve.png"
)
def test_docs_screenshot(driver: Any, server_factory: Any, builtin_model: ModelEntry, tmp_path: Path) -> None:
    """The README's picture: two photos done, one refused file, the comparison half way."""
    src = Path(__file__).resolve().parents[2] / "src" / "gensr" / "samples" / "astronaut.jpg"
    face, patch = tmp_path / "astronaut.jpg", tmp_path / "patch.png"
    with PILImage.open(src) as im:
        im.crop((40, 24, 168, 152)).save(face, quality=95)
        im.crop((150, 150, 214, 214)).save(patch)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    driver.set_window_size(1100, 1500)
    limits = {"max_upload": 50 * 2**20, "max_pixels": 4096 * 4096}  # gensr serve's defaults
    with server_factory([builtin_model], tile=64, **limits) as running:
        open_page(driver, running.url)
        choose_files(driver, face, patch, notes)
        wait(driver, "document.querySelectorAll('#list li[data-state=done]').length === 2")
        wait(
            driver, "document.querySelector('#after').complete && document.querySelector('#before').complete"
        )
        driver.execute_script("document.querySelector('#list li .compare').click(); window.scrollTo(0, 0)")
        wait(driver, LOADED)
        out = Path(os.environ["GENSR_DOCS_SCREENSHOT"])
        driver.save_screenshot(str(out))
    driver.set_window_size(1200, 1000)
    with PILImage.open(out) as im:  # keep the committed file small: 256 colours
        small = im.convert("RGB").quantize(256, method=PILImage.Quantize.MEDIANCUT)
    small.save(out, optimize=True)
    with PILImage.open(out) as im:
        assert im.mode == "P" and im.width >= 1000 and im.height >= 1000, (im.mode, im.size)
