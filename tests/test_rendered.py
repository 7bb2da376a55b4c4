"""The rendered book (after `xalign build`): links, images, math, screenshots in headless Chromium,
and what a reader of a chapter sees (no glue, no injected parameters, captions, code that fits its box)."""
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from xalign_utils.build import notebooks
from xalign_utils.layout import BUILD

pytestmark = pytest.mark.book
HTML = BUILD / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files"]


@pytest.fixture(scope="module", autouse=True)
def built():
    if not (HTML / "index.html").exists():
        pytest.skip("the book is not built; run `xalign build --preset ci` first")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag in ("img", "script") and a.get("src"):
            (self.images if tag == "img" else self.links).append(a["src"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])


def _local_target(page: Path, ref: str) -> Path | None:
    u = urlparse(ref)
    if u.scheme or ref.startswith(("#", "mailto:", "//")) or not u.path:
        return None
    return (page.parent / unquote(u.path)).resolve()


def test_no_broken_internal_links_or_missing_images():
    broken = []
    for page in HTML.rglob("*.html"):
        if "_static" in page.parts:  # theme templates, not pages
            continue
        p = Links()
        p.feed(page.read_text(encoding="utf-8"))
        for ref in p.links + p.images:
            target = _local_target(page, ref)
            if target is not None and not target.exists():
                broken.append(f"{page.relative_to(HTML)} -> {ref}")
        for ref in p.images:
            target = _local_target(page, ref)
            if target is not None and target.exists():
                assert target.stat().st_size > 100, f"empty image {ref} in {page.name}"
    assert not broken, "broken links:\n" + "\n".join(broken[:30])


def test_every_notebook_page_has_its_figures():
    for stem in notebooks():
        page = HTML / "notebooks" / f"{stem}.html"
        assert page.exists(), stem
        p = Links()
        p.feed(page.read_text(encoding="utf-8"))
        assert len(p.images) >= 3, f"{stem} shows {len(p.images)} figures"


def _chromium(*args, timeout=120):
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_screenshots_of_landing_and_notebook_page(tmp_path):
    out = BUILD / "screenshots"
    out.mkdir(exist_ok=True)
    for name, page in [("landing", HTML / "index.html"), ("notebook", HTML / "notebooks" / f"{notebooks()[0]}.html")]:
        shot = out / f"{name}.png"
        shot.unlink(missing_ok=True)
        _chromium(f"--user-data-dir={tmp_path / name}", "--window-size=1280,1600", "--virtual-time-budget=8000",
                  f"--screenshot={shot}", page.as_uri())
        assert shot.exists() and shot.stat().st_size > 20_000, f"no screenshot of {page.name}"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_math_renders_without_mathjax_errors(tmp_path):
    for page in [HTML / "book" / "definitions.html", HTML / "notebooks" / f"{notebooks()[0]}.html"]:
        dom = _chromium(f"--user-data-dir={tmp_path / page.stem}", "--virtual-time-budget=15000", "--dump-dom",
                        page.as_uri()).stdout
        assert "mjx-container" in dom, f"MathJax did not render in {page.name}"
        assert "<mjx-merror" not in dom and "Math input error" not in dom, f"MathJax error in {page.name}"


def test_findings_statuses_render_as_text_not_quoted_code():
    page = (HTML / "book" / "findings.html").read_text(encoding="utf-8")
    body = page[page.index("<tbody"):page.index("</tbody>")]
    rows = body.split("<tr")[1:]
    pasted = [r for r in rows if "planned" not in r]
    assert len(pasted) >= 4
    for row in pasted:
        last = row.rsplit("<td", 1)[1]
        # words, not a quoted repr (an old bug) and not a code span ({glue:text} pastes plain text)
        assert "&#39;" not in last and "'" not in last.split(">", 1)[1][:3], last[:200]
        assert "<code" not in last, last[:200]
        assert any(word in last for word in ("reproduced", "inconclusive")), last[:200]



def test_no_injected_parameters_cell_is_shown():
    # papermill's injected cell starts with "# Parameters"; build.hide_injected_parameters tags it remove-cell
    for stem in notebooks():
        page = (HTML / "notebooks" / f"{stem}.html").read_text(encoding="utf-8")
        assert "# Parameters" not in page, stem


class Cells(HTMLParser):
    """The visible code of a rendered chapter (`div.cell_input`) and, per image, whether it sits in a
    `<figure>` with a `<figcaption>`."""

    VOID = {"img", "br", "hr", "input", "meta", "link", "source", "wbr", "col", "area", "base", "embed"}

    def __init__(self):
        super().__init__()
        self.stack, self.code, self.images, self.figures = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.figures.append({"images": [], "caption": False})
        if tag == "figcaption" and self.figures:
            self.figures[-1]["caption"] = True
        if tag == "img":
            in_main = any(t == "main" for t, _ in self.stack)
            if in_main:
                (self.figures[-1]["images"] if self.figures else self.images).append(a.get("src", ""))
        if tag in self.VOID:
            return
        cls = a.get("class") or ""
        self.stack.append((tag, "cell_input" in cls.split()))
        if self.stack[-1][1]:
            self.code.append("")

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break
        if tag == "figure" and self.figures:
            f = self.figures.pop()
            self.images += [] if f["caption"] else f["images"]

    def handle_data(self, data):
        if any(is_input for _, is_input in self.stack):
            self.code[-1] += data


def _cells(stem: str) -> Cells:
    p = Cells()
    p.feed((HTML / "notebooks" / f"{stem}.html").read_text(encoding="utf-8"))
    return p


GLUE = re.compile(r"(?<![\w.])(glue|glue_text|glue_verdict|record|record_results)\(|\.(glue_\w*|publish\w*|record\w*)\(")


def test_no_glue_cell_is_shown():
    # glue, record() and the kit's glue_*/publish_*/record_* calls run in cells tagged remove-cell
    # (or remove-input); tests/test_nbfmt.py checks the same on the committed notebooks
    for stem in notebooks():
        shown = [c for c in _cells(stem).code if GLUE.search(c)]
        assert not shown, f"{stem} shows a glue cell:\n{shown[0][:300]}"


def test_every_figure_has_a_caption():
    for stem in notebooks():
        bare = _cells(stem).images
        assert not bare, f"{stem}: {len(bare)} figure(s) without a caption (glue them and use {{glue:figure}})"


PROBE = """<script>window.addEventListener("load", () => setTimeout(() => {
  const wide = [];
  document.querySelectorAll("div.cell_input pre").forEach((pre) => {
    if (pre.scrollWidth > pre.clientWidth + 1) {
      wide.push(pre.textContent.split("\\n").reduce((a, b) => (a.length >= b.length ? a : b)));
    }
  });
  const d = document.createElement("div");
  d.id = "xalign-probe";
  d.textContent = JSON.stringify(wide);
  document.body.appendChild(d);
}, 300));</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_no_code_line_is_wider_than_its_box(tmp_path):
    # at 1280 px the code box is ~80 monospace characters (nbfmt.MAX_LINE = 76 leaves the padding);
    # a wider line would scroll sideways
    for stem in notebooks():
        page = HTML / "notebooks" / f"{stem}.html"
        probe = page.with_name(f"_probe_{stem}.html")  # beside the page, so that its CSS loads
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
        try:
            dom = _chromium(f"--user-data-dir={tmp_path / stem}", "--window-size=1280,1600",
                            "--virtual-time-budget=8000", "--dump-dom", probe.as_uri()).stdout
        finally:
            probe.unlink()
        found = re.search(r'id="xalign-probe">([^<]*)<', dom)
        assert found, f"the probe did not run on {stem}"
        wide = json.loads(html.unescape(found.group(1)))
        assert not wide, f"{stem}: {len(wide)} code cell(s) scroll sideways, e.g. {wide[0]!r}"
