"""English training text for the bundled byte-level OPT, taken from a Debian package.

Why this exists: the bundled model (models/assets/opt-bytes/) must be trained on real prose with
a free license that any machine of the project can install with apt-get, so that its attention
patterns and activation statistics look like those of a real language model. The text is the
Python 3.11 documentation from Debian's python3.11-doc (PSF License Agreement; code in the
documentation 0BSD, see html/license.html), HTML stripped to paragraphs: only the main body of each page, without navigation,
permalink marks or code blocks, so what remains is prose.

Deterministic: the same package version always gives byte-identical text.
"""
import html.parser
import os
import re
import subprocess
from typing import List

PACKAGE = "python3.11-doc"
HTML_ROOT = "/usr/share/doc/python3.11/html"
LICENSE = ("PSF-2.0 (PSF License Agreement for Python and its documentation, see the "
           "copyright file); code in the documentation 0BSD (html/license.html)")
COPYRIGHT_FILE = "/usr/share/doc/python3.11-doc/copyright"
# Prose-heavy parts of the documentation, in the order the book lists them. The library
# reference (mostly API signatures) and the C API are left out.
SECTIONS = ["tutorial", "reference", "howto", "faq", "using", "extending", "whatsnew"]

_BLOCK_TAGS = {"p", "div", "section", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd",
               "tr", "br", "blockquote", "table", "caption", "figcaption"}
_SKIP_CLASSES = {"headerlink", "highlight", "sphinxsidebar", "related", "footer", "toctree-wrapper",
                 "versionmodified-hidden"}
_BREAK = "\x00"  # paragraph boundary; newlines inside the HTML source are plain spaces
_VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base"}


class _MainBodyText(html.parser.HTMLParser):
    """Collects the text inside <div role="main">, one paragraph per block element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self._stack: List[tuple] = []  # (tag, opens main, skipped)
        self._in_main = 0
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag in _VOID_TAGS:
            if tag == "br" and self._in_main and not self._skip:
                self.parts.append(_BREAK)
            return
        is_main = a.get("role") == "main"
        skipped = (tag in ("script", "style", "pre") or bool(classes & _SKIP_CLASSES)
                   or any(c.startswith("highlight-") for c in classes))
        self._stack.append((tag, is_main, skipped))
        self._in_main += is_main
        self._skip += skipped
        if tag in _BLOCK_TAGS and self._in_main and not self._skip:
            self.parts.append(_BREAK)

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS or not any(t == tag for t, _, _ in self._stack):
            return
        while self._stack:
            t, is_main, skipped = self._stack.pop()
            self._in_main -= is_main
            self._skip -= skipped
            if t == tag:
                break
        if tag in _BLOCK_TAGS and self._in_main and not self._skip:
            self.parts.append(_BREAK)

    def handle_data(self, data):
        if self._in_main and not self._skip:
            self.parts.append(data)


def page_text(path: str) -> str:
    parser = _MainBodyText()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    text = "".join(parser.parts)
    blocks = [re.sub(r"\s+", " ", block).strip() for block in text.split(_BREAK)]
    paragraphs = [block for block in blocks if block]
    return "\n\n".join(paragraphs)


def page_paths() -> List[str]:
    """Pages of each section in the order of the section's table of contents (its index.html),
    then any page the contents do not link, by name."""
    paths = []
    for section in SECTIONS:
        root = os.path.join(HTML_ROOT, section)
        pages = sorted(f for f in os.listdir(root) if f.endswith(".html"))
        with open(os.path.join(root, "index.html"), encoding="utf-8") as f:
            linked = re.findall(r'href="([A-Za-z0-9_.-]+\.html)"', f.read())
        ordered = ["index.html"]
        for page in linked + pages:
            if page in pages and page not in ordered:
                ordered.append(page)
        paths += [os.path.join(root, p) for p in ordered]
    return paths


def package_version() -> str:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0 or not out.stdout:
        raise SystemExit(f"{PACKAGE} is not installed: apt-get install {PACKAGE}")
    return out.stdout


def load_text() -> bytes:
    """The whole corpus as UTF-8 bytes, pages separated by blank lines."""
    if not os.path.isdir(HTML_ROOT):
        raise SystemExit(f"{HTML_ROOT} missing: apt-get install {PACKAGE}")
    pages = [page_text(p) for p in page_paths()]
    return ("\n\n".join(p for p in pages if p) + "\n").encode("utf-8")


if __name__ == "__main__":
    data = load_text()
    print(f"{PACKAGE} {package_version()}: {len(page_paths())} pages, {len(data)} bytes")
