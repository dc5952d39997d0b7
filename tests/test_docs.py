"""The docs stay true: quoted commands parse, every page is linked, every relative link resolves.

Commands are checked against the real argument parser (``cli.build_parser``) without running them:
the subcommand must exist and accept every flag and value used. Placeholders in the docs are
normalised first: ``[--opt x]`` (optional) loses its brackets, ``a|b|c`` (alternatives) takes the
first, ``$var`` (a shell loop variable) becomes ``1``. Required-ness is relaxed, so prose may quote
``sensor-fusion run --detector bev`` without ``--bag``. ``scripts/*.py`` and ``bench/*.py``
commands are checked against their own ``--help``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sensor_fusion.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = [README, *PAGES]
README_MAX_BYTES = 12 * 1024

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
_SHELL = {"bash", "sh", "shell", "console"}
_INLINE = re.compile(r"`([^`\n]+)`")
_CLI = re.compile(
    r"(?:(?<=\s)|^)(?:\.venv/bin/)?(?:sensor-fusion|(?:\.venv/bin/)?python3? -m sensor_fusion)(?=\s|$)"
)
_SCRIPT = re.compile(r"(?:(?<=\s)|^)((?:scripts|bench)/[\w-]+\.py)(?=\s|$)")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$", re.M)


class _ParseError(Exception):
    pass


def _text_chunks(text: str) -> list[str]:
    """Lines of shell blocks (continuations joined) and inline code spans outside fenced blocks."""
    chunks: list[str] = []
    for lang, block in _FENCE.findall(text):
        if lang.strip() in _SHELL:
            chunks += block.replace("\\\n", " ").splitlines()
    chunks += _INLINE.findall(_FENCE.sub("", text))
    return chunks


def _cut(rest: str) -> str:
    """The command's own words: up to a comment, ``;``, ``&&``, a pipe or a redirection."""
    return re.split(r"\s#|;|&&|\s\|\s|\s>|\s<", " " + rest)[0]


def _normalise(tokens: list[str]) -> list[str]:
    out = []
    for tok in tokens:
        tok = tok.replace("[", "").replace("]", "")
        if tok in ("", "...", "…"):
            continue
        if "|" in tok:
            tok = tok.split("|")[0]
        out.append(re.sub(r"\$\{?\w+\}?", "1", tok))
    return out


def quoted_commands(pattern: re.Pattern) -> list[tuple[str, str, list[str]]]:
    """(page, quoted text, argument words) of every command matching ``pattern`` in the docs."""
    found = []
    for page in DOCS:
        for chunk in _text_chunks(page.read_text()):
            for m in pattern.finditer(chunk):
                words = _normalise(shlex.split(_cut(chunk[m.end() :])))
                head = m.group(1) if m.groups() else ""
                found.append((page.name, chunk.strip(), [head, *words] if head else words))
    return found


def _relaxed_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The CLI's parser with nothing required and errors raised instead of exiting."""

    def fail(message: str) -> None:
        raise _ParseError(message)

    root = build_parser()
    subs = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    for p in [root, *subs.choices.values()]:
        p.error = fail
        for act in p._actions:
            if act is subs:
                continue
            act.required = False
            if not act.option_strings and act.nargs is None:
                act.nargs = "?"
    return root, subs.choices


CLI_COMMANDS = quoted_commands(_CLI)
SCRIPT_COMMANDS = quoted_commands(_SCRIPT)


def test_the_docs_quote_commands_at_all():
    """Guards the extraction itself: a broken regex would make the parse test vacuous."""
    subcommands = {words[0] for _p, _t, words in CLI_COMMANDS if words}
    assert {"simulate", "run", "evaluate", "report", "batch", "batch-compare", "demo"} <= subcommands
    assert any(w[0] == "scripts/compare.py" for _p, _t, w in SCRIPT_COMMANDS)


@pytest.mark.parametrize("page,text,words", CLI_COMMANDS, ids=[f"{p}:{t[:60]}" for p, t, _ in CLI_COMMANDS])
def test_quoted_cli_command_parses(page, text, words):
    root, subs = _relaxed_parser()
    if not words or words[0] in ("-h", "--help"):
        return
    assert words[0] in subs, f"{page}: unknown subcommand {words[0]!r} in `{text}`"
    if "-h" in words or "--help" in words:
        return
    try:
        root.parse_args(words)
    except _ParseError as exc:
        pytest.fail(f"{page}: `{text}` does not parse: {exc}")


def test_a_wrong_flag_is_caught():
    """The relaxed parser still rejects what the real one rejects (unknown flags, bad choices)."""
    root, _ = _relaxed_parser()
    for bad in (["run", "--no-such-flag"], ["run", "--detector", "radar"], ["frobnicate"]):
        with pytest.raises(_ParseError):
            root.parse_args(bad)


def _help_flags(script: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, str(REPO / script), "--help"], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert out.returncode == 0, f"{script} --help failed:\n{out.stderr[-2000:]}"
    return set(re.findall(r"--[\w-]+", out.stdout))


def test_quoted_script_commands_use_flags_their_help_lists():
    by_script: dict[str, set[str]] = {}
    for page, text, words in SCRIPT_COMMANDS:
        script = words[0]
        assert (REPO / script).is_file(), f"{page}: `{text}` names a missing file"
        flags = {w.split("=")[0] for w in words[1:] if w.startswith("--")}
        by_script.setdefault(script, set()).update(flags)
    for script, flags in sorted(by_script.items()):
        if flags:
            missing = flags - _help_flags(script)
            assert not missing, f"{script} --help does not list {sorted(missing)}"


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (at most {README_MAX_BYTES})"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.split("#")[0]).resolve() for t in _LINK.findall(README.read_text())}
    missing = [p.name for p in PAGES if p.resolve() not in linked]
    assert PAGES and not missing, f"docs pages not linked from README.md: {missing}"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped but for hyphens and the underscores
    inside words (``gnss_steps`` keeps its own; ``_emphasis_`` loses them), spaces to hyphens."""
    out = set()
    for h in _HEADING.findall(_FENCE.sub("", page.read_text())):
        h = re.sub(r"[`*]|(?<!\w)_|_(?!\w)", "", h).lower()
        out.add(re.sub(r"[^\w\- ]", "", h).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_relative_links_resolve(page):
    bad = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target} (no heading #{anchor})")
    assert not bad, f"{page.name}: broken links: {bad}"
