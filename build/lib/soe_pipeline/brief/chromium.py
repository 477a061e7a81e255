"""Headless Chromium: load the brief as a browser does (DOM dump) and take a screenshot.

Every call starts a fresh Chromium with a throwaway profile and the flags that keep it off
the network (no background networking, component updates, sync or QUIC: machines running
the pipeline are often offline, and the brief needs nothing from the network), and kills
it if it does not finish in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_ENV = "SOE_CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
INSTALL_HINT = (
    "run scripts/install_chromium.sh (Debian: apt-get install -y --no-install-recommends chromium)"
)
DEFAULT_TIMEOUT_SECONDS = 90.0
WINDOW_WIDTH = 1280
# Heights tried in turn until the page ends inside the window; the image is then cropped.
WINDOW_HEIGHTS = (8_000, 16_000, 32_000)

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class ChromiumNotFoundError(RuntimeError):
    """No Chromium binary on this machine."""


class ChromiumError(RuntimeError):
    """Chromium ran but failed, timed out, or produced nothing usable."""


def find_chromium() -> Path:
    """The Chromium binary: $SOE_CHROMIUM if set, else /usr/bin/chromium or one on PATH."""
    override = os.environ.get(CHROMIUM_ENV)
    candidates = (override,) if override else CHROMIUM_CANDIDATES
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return Path(found)
    looked_for = ", ".join(candidates)
    raise ChromiumNotFoundError(
        f"Chromium not found (looked for {looked_for}; set ${CHROMIUM_ENV} to use another "
        f"binary): {INSTALL_HINT}"
    )


def _run_chromium(arguments: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    with tempfile.TemporaryDirectory(prefix="soe-chromium-") as profile:
        command = [str(binary), *_FLAGS, f"--user-data-dir={profile}", *arguments]
        # Own process group, so a hung browser is killed with its renderer and helpers.
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise ChromiumError(
                f"Chromium did not finish within {timeout:.0f} s: {' '.join(command)}"
            ) from error
    if process.returncode != 0:
        raise ChromiumError(
            f"Chromium exited with status {process.returncode}: {' '.join(command)}\n"
            f"{_last_lines(stderr)}"
        )
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _last_lines(text: str, count: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def dump_dom(html_path: Path, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> str:
    """The document as Chromium parsed and laid it out (`--dump-dom`)."""
    url = Path(html_path).resolve().as_uri()
    completed = _run_chromium(["--dump-dom", url], timeout)
    if "<html" not in completed.stdout.lower():
        raise ChromiumError(
            f"Chromium returned no document for {url}\n{_last_lines(completed.stderr)}"
        )
    return completed.stdout


def screenshot(
    html_path: Path,
    png_path: Path,
    width: int = WINDOW_WIDTH,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Path:
    """A full-page PNG of the document: taken in a tall window, cropped where the page ends."""
    url = Path(html_path).resolve().as_uri()
    png_path = Path(png_path).resolve()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    for height in WINDOW_HEIGHTS:
        png_path.unlink(missing_ok=True)
        completed = _run_chromium(
            [f"--window-size={width},{height}", f"--screenshot={png_path}", url], timeout
        )
        if not png_path.is_file() or png_path.stat().st_size == 0:
            raise ChromiumError(
                f"Chromium wrote no screenshot to {png_path}\n{_last_lines(completed.stderr)}"
            )
        if _crop_to_page(png_path):
            break
    return png_path


def _crop_to_page(png_path: Path, margin: int = 24) -> bool:
    """Crop the empty window area below the page; False when the page reaches the bottom."""
    from PIL import Image, ImageChops

    with Image.open(png_path) as opened:
        image = opened.convert("RGB")
    background = image.getpixel((0, image.height - 1))
    content = ImageChops.difference(image, Image.new("RGB", image.size, background)).getbbox()
    if content is None:
        raise ChromiumError(f"the screenshot {png_path} is blank")
    bottom = content[3]
    if bottom >= image.height - margin:
        return False
    image.crop((0, 0, image.width, bottom + margin)).save(png_path, optimize=True)
    return True
