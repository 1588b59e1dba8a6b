"""Open an exported presentation in headless Chromium and check that it renders.

    python tools/check_presentation.py presentation/presentation.html [--screenshot shot.png]

Checks, printed as JSON (exit status 1 when one fails):

- the file is self-contained: no ``src``/``href`` pointing to the network;
- in the browser, every ``<img>`` decoded (``naturalWidth > 0``) and the page has slides and text (the DOM after
  scripts ran, read with ``--dump-dom`` from a copy that records these facts in an attribute);
- every slide fits its 16:9 frame at 1280 x 720: nothing overflows it (its content is not taller or wider than
  the frame), and it shows as many figures as it declares (``data-figures``);
- a screenshot of the first screen is not blank: its pixels vary (standard deviation) and use many colours;
- with ``--slides DIR``, one PNG per slide (``slide-01.png``...) to look at.

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
    text_chars: document.body.innerText.length,
    overflowing: Array.from(document.querySelectorAll('.slide')).filter(function (s) {
      var frame = s.getBoundingClientRect();
      var inner = Array.from(s.querySelectorAll('*')).some(function (e) {
        var r = e.getBoundingClientRect();
        return r.height > 0 && (r.bottom > frame.bottom + 1 || r.right > frame.right + 1);
      });
      return inner || s.scrollHeight > s.clientHeight + 1 || s.scrollWidth > s.clientWidth + 1;
    }).map(function (s) { return s.id; }),
    missing_figures: Array.from(document.querySelectorAll('.slide')).filter(function (s) {
      var want = parseInt(s.getAttribute('data-figures') || '0', 10);
      var shown = Array.from(s.querySelectorAll('img')).filter(function (i) {
        return i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 20;
      }).length;
      return shown < want;
    }).map(function (s) { return s.id; })
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


def check(
    html_path: Path, screenshot: Path, chromium: str, size: str = "1280,720", slides_dir: Path | None = None
) -> dict:
    """Every fact checked, and ``problems`` (empty when the presentation renders)."""
    text = html_path.read_text(encoding="utf-8")
    problems = []
    if NETWORK.search(text):
        problems.append(f"network reference: {NETWORK.search(text).group(0)!r}")
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
        dom = _chromium(chromium, Path(tmp) / "profile", f"--window-size={size}", "--dump-dom", probe.as_uri())
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
        if slides_dir is not None and facts.get("slides"):
            width, height = (int(v) for v in size.split(","))
            whole = Path(tmp) / "whole.png"
            _chromium(
                chromium,
                Path(tmp) / "profile3",
                "--hide-scrollbars",
                f"--window-size={width},{height * facts['slides']}",
                f"--screenshot={whole}",
                html_path.resolve().as_uri(),
            )
            facts["slide_pngs"] = split_slides(whole, slides_dir, facts["slides"], width, height)
    if facts:
        if facts.get("overflowing"):
            problems.append(f"slides whose content overflows the 16:9 frame: {facts['overflowing']}")
        if facts.get("missing_figures"):
            problems.append(f"slides with a figure missing: {facts['missing_figures']}")
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


def split_slides(whole: Path, out_dir: Path, n: int, width: int, height: int) -> list[str]:
    """Cut a screenshot of the stacked slides (the window as tall as all of them) into one PNG per slide.

    A slide is 56.25% of the page width tall (its CSS), so slide i starts at ``i * width * 9 / 16``."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with Image.open(whole) as img:
        step = width * 9 / 16
        for i in range(n):
            top = round(i * step)
            path = out_dir / f"slide-{i + 1:02d}.png"
            img.crop((0, top, width, min(top + round(step), img.height))).save(path)
            paths.append(str(path))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None, help="where to keep the PNG (default: next to html)")
    parser.add_argument("--chromium", default="", help="browser binary (default: chromium on PATH)")
    parser.add_argument("--slides", type=Path, default=None, help="also write one PNG per slide into this folder")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if not chromium:
        print("error: chromium not found (apt-get install -y chromium)", file=sys.stderr)
        return 2
    screenshot = args.screenshot or args.html.with_name("screenshot.png")
    result = check(args.html, screenshot, chromium, slides_dir=args.slides)
    print(json.dumps(result, indent=2))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
