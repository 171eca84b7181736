"""The repository is self-contained: no test, script, doc or build file reads anything beside it. A user's clone has
no sibling folders (this workspace's shared one, nor ``/work``), so a path that leaves the repository is a
defect, found here. The examples below spell the sibling's name in pieces, so that this file names no path out."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {
    ".git",
    ".venv",
    ".tools",
    ".aws-sam",
    ".local",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".mutation",
}
TEXT = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".ini", ".sh", ".html", ".json"}
NAMED = {"Makefile", "run", ".gitignore", ".python-version"}

_PARENTS = re.compile(r"\.parents\[(\d+)\]")
_UP = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.-]*)")
_UP_PARTS = re.compile(r"""["']\.\.["']\s*,\s*["'](\w+)""")  # Path(…, "..", "<sibling>")
_WORKSPACE = re.compile(r"(?<![\w.-])/work/")
ON_PURPOSE = "# hostile path, on purpose"  # a line that names a path outside as bad input, not to read it
UP, SIBLING = "../", "sha" + "red"  # the workspace's folder beside the repository, named in pieces


def outside_references(relative: str, text: str) -> list[str]:
    """What in ``text`` (the file at ``relative`` in the repository) points outside the repository."""
    text = "\n".join(line for line in text.splitlines() if ON_PURPOSE not in line)
    found = []
    depth = len(Path(relative).parts)  # parents[depth - 1] of the file is the repository's root
    for match in _PARENTS.finditer(text):
        if int(match.group(1)) >= depth:
            found.append(match.group(0).lstrip("."))
    # A document's link is relative to the document; code's path may be relative to the file or to the repository
    # (a command's working directory).
    bases = [ROOT / Path(relative).parent] + ([] if relative.endswith((".md", ".html")) else [ROOT])
    document = relative.endswith((".md", ".html"))
    for match in _UP.finditer(text):
        targets = [(base / match.group(0)).resolve() for base in bases]
        if any(not t.is_relative_to(ROOT) for t in targets) or (document and not targets[0].exists()):
            found.append(match.group(0))  # (a document's ../ link must also lead to a file of the repository)
    found += [m.group(0) for m in _UP_PARTS.finditer(text)]
    found += [m.group(0) for m in _WORKSPACE.finditer(text)]
    return found


def repository_files() -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        files += [Path(folder, n) for n in names if Path(n).suffix in TEXT or n in NAMED]
    return files


def test_no_file_of_the_repository_reads_outside_it():
    offenders = {}
    for path in repository_files():
        if path == Path(__file__).resolve():
            continue  # this file spells out what it looks for
        relative = path.relative_to(ROOT).as_posix()
        found = outside_references(relative, path.read_text(errors="replace"))
        if found:
            offenders[relative] = found
    assert offenders == {}


def test_the_check_finds_each_way_out_and_lets_inside_paths_be():
    parents = f'Path(__file__).resolve().parents[3] / "{SIBLING}" / "stripe" / "fixtures3.json"'
    assert outside_references("tests/unit/test_x.py", parents) == ["parents[3]"]
    assert outside_references("tests/unit/test_x.py", "Path(__file__).resolve().parents[2]") == []
    assert outside_references("tests/test_x.py", f"open('{UP}{SIBLING}/stripe/fixtures3.json')") == [UP + SIBLING]
    assert outside_references("docs/api.md", "see [the README](../README.md)") == []
    assert outside_references("docs/api.md", f"see [the brief]({UP}{UP}{SIBLING}/A.md)") == [UP + UP + SIBLING]
    assert outside_references("bench/x.py", "open('../README.md')") == ["../README.md"]  # from the root: outside
    # from docs/, one level up is inside the repository, but names the workspace's sibling, which a clone lacks
    assert outside_references("docs/architecture.md", f"The brief is `{UP}{SIBLING}/A.md`") == [UP + SIBLING]
    assert outside_references("bench/x.py", f'Path(ROOT, "..", "{SIBLING}")') == [f'"..", "{SIBLING}']
    assert outside_references("Makefile", f"cp /work/{SIBLING}/x .") == ["/work/"]
    assert outside_references("layers/billing/billing/x.py", "from .. import y; a..b") == []
    assert outside_references("tests/x.py", f'bad = "../etc/passwd"  {ON_PURPOSE}') == []
