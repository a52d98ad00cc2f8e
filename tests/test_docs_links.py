"""Every relative link in the project's Markdown (README, model card, docs/) resolves: the file
exists and, where the link names a heading, the heading is there (GitHub's anchor rules)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", REPO / "MODEL_CARD.md", *(REPO / "docs").glob("*.md")])
# [text](target) outside code; the target stops at whitespace or ")" (none of ours has either)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    # a link in a heading counts by its text; backticks and bold markers vanish, underscores stay
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    text = re.sub(r"[`*]", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            slug = github_anchor(match.group(1))
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def relative_links(path: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text()))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def test_github_anchor_rules() -> None:
    assert github_anchor("The architecture and why our parameter count is not the paper's") == (
        "the-architecture-and-why-our-parameter-count-is-not-the-papers"
    )
    assert (
        github_anchor("At the 40-epoch schedule (`paper128_improved`)") == "at-the-40-epoch-schedule-paper128_improved"
    )
    assert github_anchor("Predict, export, torch.hub") == "predict-export-torchhub"


def broken_links(doc: Path) -> list[str]:
    """The relative links of ``doc`` whose file or heading is missing, each with the reason."""
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading with that anchor in {dest.name})")
    return broken


def test_the_links_are_found() -> None:
    # guards the pattern: docs/results.md links dozens of results files and its own headings
    links = relative_links(REPO / "docs" / "results.md")
    assert sum(t.startswith("../results/") for t in links) > 50 and sum(t.startswith("#") for t in links) > 5
    assert sum(t.startswith("docs/") for t in relative_links(REPO / "README.md")) > 10


def test_the_checker_finds_missing_files_and_headings(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Top\n[ok](other.md#a-code-heading) [ok](#top) [url](https://x.org/y) `[code](nowhere.md)`\n"
        "[gone](missing.md) [bad](other.md#nope) [bad](#bottom)\n```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken_links(doc) == [
        "missing.md (no such file)",
        "other.md#nope (no heading with that anchor in other.md)",
        "#bottom (no heading with that anchor in doc.md)",
    ]


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(REPO)) for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    broken = broken_links(doc)
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


def test_the_readme_and_model_card_stay_short() -> None:
    # issue 36: a manual, not a record; the records and their tables live in docs/results.md
    assert len((REPO / "README.md").read_text()) <= 15_000
    assert (REPO / "MODEL_CARD.md").stat().st_size <= 8 * 1024
