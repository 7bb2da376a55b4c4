"""The rendered book (after `xalign build`): links, images, math, screenshots in headless Chromium."""
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from xalign_utils.build import BUILD, notebooks

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
