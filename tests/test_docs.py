"""The README and docs/ hold no dangling reference.

Files move (modules split into packages, sections move between pages), and a manual that
points at what is gone misleads the reader who trusts it most. So every relative link
must reach a file of this repository and, with an anchor, a heading of that file (GitHub's
slug rules); every backticked path under one of the repository's top-level folders must
exist; the design notes and benchmark log that live outside the repository are named only
by their ``../shared/`` path; and the README stays a manual, not a lab notebook (at most
300 lines). Pure text processing: no model, no server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

#: Top-level folders of this repository: a backticked token starting with one names a path here.
REPO_PREFIXES = ("promptprint/", "scripts/", "evaluation/", "docs/", "proto/", "tests/")
#: Files that live in ../shared/, not in the repository.
SHARED_ONLY = ("MEASURED.md", "DESIGN.md")

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_PLACEHOLDER = re.compile(r"[<>*?{}\[\]$…]")


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def fenced_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) inside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            yield number, line


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link text kept, markup and punctuation dropped,
    lower case, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every Markdown link outside code."""
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for match in _LINK.finditer(_INLINE_CODE.sub("", line)):
            yield number, match.group(1)


def code_tokens(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, token) of every whitespace-separated token in inline code spans and
    fenced blocks: paths also hide inside commands (`python scripts/x.py --flag`)."""
    text = path.read_text(encoding="utf-8")
    for number, line in prose_lines(text):
        for match in _INLINE_CODE.finditer(line):
            for token in match.group(2).split():
                yield number, token
    for number, line in fenced_lines(text):
        for token in line.split():
            yield number, token


def repo_path(token: str) -> str | None:
    """The repository path a code token names, or None when it names none."""
    token = token.strip("'\"(),;:.")
    token = token.split("::", 1)[0]  # pytest node ids
    if not token.startswith(REPO_PREFIXES) or _PLACEHOLDER.search(token):
        return None
    return token


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_links_resolve(doc: Path) -> None:
    problems = []
    for number, target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        where = f"{doc_id(doc)}:{number}: {target}"
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{where}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{where}: no heading with anchor #{anchor}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_backticked_paths_exist(doc: Path) -> None:
    missing = sorted(
        {
            f"{doc_id(doc)}:{number}: {path}"
            for number, token in code_tokens(doc)
            if (path := repo_path(token)) is not None and not (ROOT / path).exists()
        }
    )
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_shared_files_named_by_their_shared_path(doc: Path) -> None:
    bad = [
        f"{doc_id(doc)}:{number}: {name}"
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        for name in SHARED_ONLY
        for match in re.finditer(re.escape(name), line)
        if not line[: match.start()].endswith("../shared/")
    ]
    assert not bad, "these files are not in the repository; write ../shared/NAME:\n" + "\n".join(bad)


def test_readme_is_short() -> None:
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_slugs_follow_github() -> None:
    assert github_slug("Ray: more than one machine (`--ray-address`)") == "ray-more-than-one-machine---ray-address"
    assert github_slug("Scale: IVF-PQ at 1M, 10M and 20M") == "scale-ivf-pq-at-1m-10m-and-20m"
    assert github_slug("`promptprint reindex`") == "promptprint-reindex"
    assert github_slug("See [the docs](docs/x.md) now") == "see-the-docs-now"
