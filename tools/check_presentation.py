"""Open an exported presentation in headless Chromium and check that it renders and reads.

    python tools/check_presentation.py presentation/presentation.html [--screenshot shot.png]

Checks, printed as JSON (exit status 1 when one fails):

- the file is self-contained: no ``src``/``href`` pointing to the network;
- in the browser, every ``<img>`` decoded (``naturalWidth > 0``) and the page has slides and text (the DOM after
  scripts ran, read with ``--dump-dom`` from a copy that records these facts in an attribute);
- every slide fits its 16:9 frame at 1280 x 720: nothing overflows it (its content is not taller or wider than
  the frame) nor runs past its margins (its padding), and it shows as many figures as it declares
  (``data-figures``);
- no text under 12 px (:data:`MIN_FONT_PX`): HTML text by its computed font size, a chart by the size of its
  smallest text in the PNG's pixels (``data-font-px``, written by the report) times the scale the browser shows
  the image at;
- on the main slides (not ``.appendix``): no command-line flag, hex hash or Metaflow run id (:data:`IDENTIFIERS`),
  and, the title slide (the cover) aside, at most :data:`MAX_EMPTY_SHARE` of the area inside the margins left
  empty (the share of it that no heading, paragraph, list item, table, number, box or drawn image covers);
- a screenshot of the first screen is not blank: its pixels vary (standard deviation) and use many colours;
- with ``--slides DIR``, one PNG per slide (``slide-01.png``...) to look at.

Needs Debian's ``chromium`` (``apt-get install -y chromium``) or ``--chromium PATH``.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK_ATTR = "data-render-check"
PROBE = """<script>
function rectOf(e) { var r = e.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right, b: r.bottom}; }
function drawn(img) {  /* the box of the picture itself: object-fit contain, anchored left top */
  var r = img.getBoundingClientRect();
  var scale = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
  return {l: r.left, t: r.top, r: r.left + img.naturalWidth * scale, b: r.top + img.naturalHeight * scale};
}
function slideFacts(s) {
  var frame = s.getBoundingClientRect(), cs = getComputedStyle(s);
  var box = {l: frame.left + parseFloat(cs.paddingLeft), r: frame.right - parseFloat(cs.paddingRight),
             t: frame.top + parseFloat(cs.paddingTop), b: frame.bottom - parseFloat(cs.paddingBottom)};
  var texts = [], walker = document.createTreeWalker(s, NodeFilter.SHOW_TEXT), node;
  while ((node = walker.nextNode())) {
    var words = node.textContent.trim();
    if (!words || node.parentElement.getClientRects().length === 0) continue;
    texts.push({px: parseFloat(getComputedStyle(node.parentElement).fontSize), text: words.slice(0, 60)});
  }
  var images = Array.from(s.querySelectorAll('img')).map(function (i) {
    return {alt: i.alt, font_px: parseFloat(i.dataset.fontPx || 'NaN'),
            width_px: parseFloat(i.dataset.widthPx || i.naturalWidth), height_px: i.naturalHeight
                      * parseFloat(i.dataset.widthPx || i.naturalWidth) / Math.max(i.naturalWidth, 1),
            shown_width: i.clientWidth, shown_height: i.clientHeight};
  });
  var blocks = Array.from(s.querySelectorAll('h1, .diagram .box, .numbers > div, p, li, table, figcaption, pre'))
    .map(rectOf).concat(Array.from(s.querySelectorAll('img')).map(drawn));
  var cell = 8, cells = 0, covered = 0;
  for (var y = box.t + cell / 2; y < box.b; y += cell) {
    for (var x = box.l + cell / 2; x < box.r; x += cell) {
      cells++;
      if (blocks.some(function (k) { return x >= k.l && x <= k.r && y >= k.t && y <= k.b; })) covered++;
    }
  }
  var outside = Array.from(s.querySelectorAll('*')).filter(function (e) {
    var r = e.getBoundingClientRect();
    return !e.closest('.number') && r.height > 0 && r.width > 0 &&
           (r.right > box.r + 1 || r.bottom > box.b + 1 || r.left < box.l - 1);
  }).map(function (e) { return e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''); });
  return {id: s.id, appendix: s.classList.contains('appendix'), cover: s.classList.contains('title'),
          text: s.innerText, texts: texts,
          images: images, filled: cells ? covered / cells : 0, outside_margins: outside.slice(0, 5)};
}
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
    }).map(function (s) { return s.id; }),
    per_slide: Array.from(document.querySelectorAll('.slide')).map(slideFacts)
  };
  document.documentElement.setAttribute('CHECK_ATTR', JSON.stringify(facts));
});
</script>""".replace("CHECK_ATTR", CHECK_ATTR)
#: A blank or single-colour page has a pixel standard deviation near 0 and a handful of colours.
MIN_PIXEL_STD = 8.0
MIN_COLOURS = 16
NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
#: The smallest text, in CSS pixels at 1280 x 720, that a slide or a chart on it may show.
MIN_FONT_PX = 12.0
#: The largest share of a main slide (inside its margins) that its content may leave empty.
MAX_EMPTY_SHARE = 0.35
#: What a main slide must not show (the appendix may): command-line flags, hex digests such as MLflow run ids,
#: Metaflow run ids (``RecsysFlow/123`` or the bare 16-digit number).
IDENTIFIERS = {
    "a command-line flag": re.compile(r"(?<![\w-])--[a-z][\w-]*"),
    "a hex hash": re.compile(r"\b[0-9a-f]{32}\b"),
    "a Metaflow run id": re.compile(r"\b\w*Flow/\d+|\b\d{13,}\b"),
}


def small_text(slide: dict, min_px: float = MIN_FONT_PX) -> list[str]:
    """The slide's text, ``<img>`` charts included, shown smaller than ``min_px`` CSS pixels.

    HTML text is the browser's computed size; a chart's is the size of its smallest text in the PNG's own
    pixels (``data-font-px``) times the scale it is drawn at (``object-fit: contain``: the smaller of the width
    and height ratios). A chart that does not say its smallest text counts as too small."""
    out = []
    texts = [t for t in slide.get("texts", []) if t["px"] < min_px - 0.05]
    if texts:
        smallest = min(texts, key=lambda t: t["px"])
        out.append(f"{len(texts)} text(s) under {min_px:g} px, smallest {smallest['px']:.1f} px: {smallest['text']!r}")
    for image in slide.get("images", []):
        font_px = image.get("font_px")
        if font_px is None or math.isnan(font_px):
            out.append(f"chart {image['alt']!r} does not say its smallest text size (data-font-px)")
            continue
        scale = min(image["shown_width"] / image["width_px"], image["shown_height"] / image["height_px"])
        if font_px * scale < min_px - 0.05:
            out.append(f"chart {image['alt']!r}: text {font_px * scale:.1f} px ({font_px:g} px at scale {scale:.2f})")
    return out


def identifiers(text: str) -> list[str]:
    """The identifiers found in a slide's text (what each is, and the text), at most three of each kind."""
    return [f"{what} {hit!r}" for what, pattern in IDENTIFIERS.items() for hit in pattern.findall(text)[:3]]


def slide_problems(slide: dict) -> list[str]:
    """What is wrong with one slide's facts (the probe's ``per_slide`` entry): small text anywhere, content past
    the margins anywhere, and, on main slides, identifiers and (the cover, the title slide, aside) more than
    :data:`MAX_EMPTY_SHARE` left empty."""
    where = f"slide {slide['id']!r}"
    out = [f"{where}: {p}" for p in small_text(slide)]
    if slide.get("outside_margins"):
        out.append(f"{where}: content past the margins: {slide['outside_margins']}")
    if slide.get("appendix"):
        return out
    out += [f"{where}: {hit} (identifiers belong in the appendix)" for hit in identifiers(slide.get("text", ""))]
    if not slide.get("cover") and 1 - slide.get("filled", 1.0) > MAX_EMPTY_SHARE:
        out.append(f"{where}: {1 - slide['filled']:.0%} of the slide is empty (at most {MAX_EMPTY_SHARE:.0%})")
    return out


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
        for slide in facts.get("per_slide", []):
            problems += slide_problems(slide)
        facts["per_slide"] = [_brief(s) for s in facts.get("per_slide", [])]
    if screenshot.is_file():
        facts.update(pixel_stats(screenshot))
        if facts["pixel_std"] < MIN_PIXEL_STD or facts["colours"] < MIN_COLOURS:
            problems.append(f"blank screenshot: pixel std {facts['pixel_std']:.1f}, {facts['colours']} colours")
    else:
        problems.append(f"no screenshot (chromium exit {shot.returncode}): {shot.stderr[-500:]}")
    return {**facts, "screenshot": str(screenshot), "problems": problems}


def _brief(slide: dict) -> dict:
    """A slide's facts as printed: how full it is and its smallest text, not every text and image."""
    sizes = [t["px"] for t in slide.get("texts", [])]
    charts = [
        round(i["font_px"] * min(i["shown_width"] / i["width_px"], i["shown_height"] / i["height_px"]), 1)
        for i in slide.get("images", [])
        if i.get("font_px") is not None and not math.isnan(i["font_px"])
    ]
    return {"id": slide["id"], "appendix": slide.get("appendix", False), "filled": round(slide.get("filled", 0), 2),
            "smallest_text_px": min(sizes, default=None), "chart_text_px": charts}  # fmt: skip


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
