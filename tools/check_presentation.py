"""Open an exported presentation in headless Chromium and check that it renders.

    python tools/check_presentation.py presentation/presentation.html [--screenshot shot.png]

Checks, printed as JSON (exit status 1 when one fails):

- the file is self-contained: no ``src``/``href`` pointing to the network;
- in the browser, every ``<img>`` decoded (``naturalWidth > 0``) and the page has slides and text (the DOM after
  scripts ran, read with ``--dump-dom`` from a copy that records these facts in an attribute);
- a screenshot of the first screen is not blank: its pixels vary (standard deviation) and use many colours.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) or ``--chromium PATH``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK_ATTR = "data-render-check"
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var facts = {
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.alt; }),
    slides: document.querySelectorAll('.slide').length,
    text_chars: document.body.innerText.length
  };
  document.documentElement.setAttribute('CHECK_ATTR', JSON.stringify(facts));
});
</script>""".replace("CHECK_ATTR", CHECK_ATTR)
#: A blank or single-colour page has a pixel standard deviation near 0 and a handful of colours.
MIN_PIXEL_STD = 8.0
MIN_COLOURS = 16
NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def find_chromium(explicit: str = "") -> str | None:
    return explicit or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium(binary: str, profile: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [
        binary,
        "--headless",
        "--no-sandbox",  # root in containers and CI
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def pixel_stats(png: Path) -> dict:
    import numpy as np
    from PIL import Image

    with Image.open(png) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    return {"width": rgb.shape[1], "height": rgb.shape[0], "pixel_std": float(rgb.std()), "colours": colours}


def check(html_path: Path, screenshot: Path, chromium: str, size: str = "1280,800") -> dict:
    """Every fact checked, and ``problems`` (empty when the presentation renders)."""
    text = html_path.read_text(encoding="utf-8")
    problems = []
    if NETWORK.search(text):
        problems.append(f"network reference: {NETWORK.search(text).group(0)!r}")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        dom = _chromium(chromium, Path(tmp) / "profile", "--dump-dom", probe.as_uri())
        found = re.search(rf'{CHECK_ATTR}="([^"]*)"', dom.stdout)
        facts = json.loads(html.unescape(found.group(1))) if found else {}
        if not found:
            problems.append(f"no render facts in the DOM (chromium exit {dom.returncode}): {dom.stderr[-500:]}")
        shot = _chromium(
            chromium,
            Path(tmp) / "profile2",
            "--hide-scrollbars",
            f"--window-size={size}",
            f"--screenshot={screenshot.resolve()}",
            html_path.resolve().as_uri(),
        )
    if facts:
        if facts["images"] == 0:
            problems.append("no images")
        if facts["broken"]:
            problems.append(f"images that did not load: {facts['broken']}")
        if facts["slides"] == 0 or facts["text_chars"] < 200:
            problems.append(f"no content: {facts['slides']} slides, {facts['text_chars']} characters")
    if screenshot.is_file():
        facts.update(pixel_stats(screenshot))
        if facts["pixel_std"] < MIN_PIXEL_STD or facts["colours"] < MIN_COLOURS:
            problems.append(f"blank screenshot: pixel std {facts['pixel_std']:.1f}, {facts['colours']} colours")
    else:
        problems.append(f"no screenshot (chromium exit {shot.returncode}): {shot.stderr[-500:]}")
    return {**facts, "screenshot": str(screenshot), "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None, help="where to keep the PNG (default: next to html)")
    parser.add_argument("--chromium", default="", help="browser binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if not chromium:
        print("error: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    screenshot = args.screenshot or args.html.with_name("screenshot.png")
    result = check(args.html, screenshot, chromium)
    print(json.dumps(result, indent=2))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
