"""Repository blocklists as code: governance/repo_blocklists.yaml, its plan and its apply.

The file maps each repository URL to the glob patterns Cursor must ignore in it:

    repos:
      https://github.com/acme/api-server:
        - "*.env"           # quote patterns that start with *: YAML reads *x as an alias
        - config/*
        - "**/*.secret"
      https://github.com/acme/secrets-vault:
        - "*"               # the whole repository

Patterns take the forms the API documents: `*` (the whole repository), `*.env` (a name with `*`
wildcards), `config/*` (a folder's files), `**/*.secret` (`**` as a whole segment: any depth) and
`src/api/keys.ts` (one file). The plan compares the file with a live
`GET /settings/repo-blocklists/repos` (the deletions need the current repository ids); pattern
lists are compared as sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from cursor_analytics.cursor_api import CursorClient
from cursor_analytics.governance.audit import (
    NOT_WRITTEN,
    SUCCESS,
    UNKNOWN,
    AuditLog,
    Intent,
    PendingWrite,
)
from cursor_analytics.governance.files import Node, Reader, Source
from cursor_analytics.ui.metadata import markdown_table

DEFAULT_PATH = "governance/repo_blocklists.yaml"
KEYS = ("repos",)
EXPECTED = "a mapping with `repos`: repository URL -> list of glob patterns"
FORMS = "*, *.env, config/*, **/*.secret, src/api/keys.ts"
UPSERT, DELETE = "upsert_repo_blocklist", "delete_repo_blocklist"
_SEGMENT = re.compile(r"^[^\s/\\?\[\]{}!]+$")


# ------------------------------------------------------------------ validation


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not one of the documented glob forms (None when it is)."""
    if pattern == "":
        return "is empty: write a glob such as *.env, or remove the line"
    if pattern != pattern.strip():
        return f"{pattern!r} has leading or trailing spaces: remove them"
    if pattern.startswith("/"):
        return f"{pattern!r} starts with '/': patterns are relative to the repository root, write {pattern.lstrip('/')!r}"
    if pattern.endswith("/"):
        return f"{pattern!r} ends with '/': to block a folder's files write {pattern + '*'!r} (or {pattern + '**'!r} with its subfolders)"
    if "\\" in pattern:
        return f"{pattern!r} contains '\\': separate folders with '/'"
    for char in "?[]{}!":
        if char in pattern:
            return (
                f"{pattern!r} uses {char!r}, which is not among the documented glob forms "
                f"({FORMS}): use * wildcards or list each path"
            )
    if any(c.isspace() for c in pattern) or any(ord(c) < 32 for c in pattern):
        return f"{pattern!r} contains whitespace or control characters: remove them"
    segments = pattern.split("/")
    for i, segment in enumerate(segments):
        if segment == "":
            return f"{pattern!r} has an empty folder name ('//'): remove the extra '/'"
        if segment in (".", ".."):
            return (
                f"{pattern!r} contains {segment!r}: write the path from the repository root without . or .."
            )
        if segment == "**":
            if i > 0 and segments[i - 1] == "**":
                return f"{pattern!r} repeats '**/**': one '**' already matches any depth"
            continue
        if "**" in segment:
            return (
                f"{pattern!r}: '**' must be a whole folder segment, as in **/*.secret "
                f"(write {'/'.join(s if '**' not in s or s == '**' else s.replace('**', '*') for s in segments)!r} "
                "for a wildcard within a name)"
            )
        if not _SEGMENT.match(segment):
            return f"{pattern!r} is not a glob of the documented forms ({FORMS})"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` is not a repository URL (None when it is)."""
    if url != url.strip() or any(c.isspace() for c in url):
        return f"{url!r} contains spaces: write the repository URL without them"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return f"{url!r} is not a repository URL: write it in full, e.g. https://github.com/org/repo"
    if parts.query or parts.fragment:
        return f"{url!r} has a query or fragment: write the repository URL only"
    if not parts.path.strip("/"):
        return f"{url!r} names a host, not a repository: add the repository path, e.g. {url.rstrip('/')}/org/repo"
    return None


def _same_repo_key(url: str) -> str:
    return url.lower().rstrip("/").removesuffix(".git")


# ------------------------------------------------------------------ the file


@dataclass(frozen=True)
class RepoEntry:
    url: str
    patterns: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class RepoBlocklistsFile:
    source: Source
    repos: Mapping[str, RepoEntry]


def load_repo_blocklists(path: str | Path = DEFAULT_PATH) -> RepoBlocklistsFile:
    """Read and validate a repo blocklists file. Raises GovernanceFileError listing every
    problem with its line and field; reads nothing but the file."""
    reader = Reader(path)
    root, source = reader.load(EXPECTED)
    repos: dict[str, RepoEntry] = {}
    if root is not None:
        keys = set()
        for key, key_node, value in reader.mapping(root, "settings (repos)"):
            keys.add(key)
            if key != "repos":
                reader.problem(
                    key_node.line,
                    key,
                    "unknown key: a repo blocklists file has only `repos` "
                    "(check the spelling and the indentation)",
                )
                continue
            if value.is_null:
                continue
            seen: dict[str, int] = {}
            for url, url_node, patterns_node in reader.mapping(value, "repository URL: patterns"):
                problem = url_problem(url)
                if problem:
                    reader.problem(url_node.line, url_node.field, problem)
                    continue
                same = _same_repo_key(url)
                if same in seen:
                    reader.problem(
                        url_node.line,
                        url_node.field,
                        f"is the same repository as line {seen[same]}: keep one entry",
                    )
                    continue
                seen[same] = url_node.line
                patterns = _patterns(reader, patterns_node)
                if patterns is not None:
                    repos[url] = RepoEntry(url, patterns, url_node.line)
        if "repos" not in keys and not reader.problems:
            reader.problem(root.line, "repos", "is missing: add `repos:` with one entry per repository URL")
    reader.raise_if_problems()
    return RepoBlocklistsFile(source, repos)


def _patterns(reader: Reader, node: Node) -> tuple[str, ...] | None:
    items = reader.sequence(node, "glob patterns (one per line, starting with -)")
    if not isinstance(node.yaml_node, yaml.SequenceNode):
        return None
    if not items:
        reader.problem(
            node.line,
            node.field,
            'has no patterns: list at least one ("*" blocks the whole repository), '
            "or remove the repository and apply with --prune",
        )
        return None
    patterns: list[str] = []
    ok_all = True
    first: dict[str, int] = {}
    for item in items:
        ok, value = reader.scalar(item)
        if not ok:
            ok_all = False
            continue
        if not isinstance(value, str):
            reader.problem(
                item.line, item.field, f"must be a glob pattern in quotes, got {item.yaml_node.value!r}"
            )
            ok_all = False
            continue
        problem = pattern_problem(value)
        if problem:
            reader.problem(item.line, item.field, problem)
            ok_all = False
            continue
        if value in first:
            reader.problem(
                item.line, item.field, f"{value!r} is listed twice (also on line {first[value]}): keep one"
            )
            ok_all = False
            continue
        first[value] = item.line
        patterns.append(value)
    return tuple(patterns) if ok_all else None


# ------------------------------------------------------------------ plan


@dataclass(frozen=True)
class BlocklistChange:
    action: str  # add | change | remove
    url: str
    repo_id: str | None
    before: tuple[str, ...] | None
    after: tuple[str, ...] | None
    line: int | None


@dataclass(frozen=True)
class BlocklistPlan:
    source: Source
    prune: bool
    current: int  # repositories on the server
    changes: tuple[BlocklistChange, ...]  # adds, changes and removals, in that order

    @property
    def upserts(self) -> list[BlocklistChange]:
        return [c for c in self.changes if c.action in ("add", "change")]

    @property
    def removals(self) -> list[BlocklistChange]:
        return [c for c in self.changes if c.action == "remove"]

    @property
    def actions(self) -> list[BlocklistChange]:
        """What an apply would do: the upserts, and the removals when pruning."""
        return self.upserts + (self.removals if self.prune else [])

    @property
    def empty(self) -> bool:
        return not self.actions

    def to_markdown(self) -> str:
        counts = {a: sum(c.action == a for c in self.changes) for a in ("add", "change", "remove")}
        head = (
            f"**Repo blocklists plan** for `{self.source.path}` (sha256 `{self.source.sha256[:12]}`) "
            f"against GET /settings/repo-blocklists/repos ({self.current} repositories): "
            f"{counts['add']} to add, {counts['change']} to change, {counts['remove']} "
            + ("to remove." if self.prune else "not in the file (kept: apply with --prune to delete them).")
        )
        if not self.changes:
            return head + "\n\nNo changes: the blocklists already match the file."
        rows = [
            (
                c.action if c.action != "remove" or self.prune else "remove (needs --prune)",
                c.url,
                _globs(c.before),
                _globs(c.after),
                "" if c.line is None else c.line,
            )
            for c in self.changes
        ]
        return (
            head
            + "\n\n"
            + markdown_table(["action", "repository", "patterns now", "patterns in file", "line"], rows)
        )


def plan_blocklists(file: RepoBlocklistsFile, current: list[dict[str, Any]], prune: bool) -> BlocklistPlan:
    """Additions, pattern changes and removals that turn `current` (normalised
    repo_blocklists records: repo_id, url, patterns) into the file."""
    by_url: dict[str, dict[str, Any]] = {}
    extras: list[dict[str, Any]] = []  # a second entry for the same URL on the server
    for repo in current:
        if repo["url"] in by_url:
            extras.append(repo)
        else:
            by_url[repo["url"]] = repo
    adds, changes, removals = [], [], []
    for url, entry in file.repos.items():
        have = by_url.get(url)
        if have is None:
            adds.append(BlocklistChange("add", url, None, None, entry.patterns, entry.line))
        elif set(have["patterns"] or ()) != set(entry.patterns):
            changes.append(
                BlocklistChange(
                    "change", url, have["repo_id"], tuple(have["patterns"] or ()), entry.patterns, entry.line
                )
            )
    for repo in [*(r for u, r in by_url.items() if u not in file.repos), *extras]:
        removals.append(
            BlocklistChange("remove", repo["url"], repo["repo_id"], tuple(repo["patterns"] or ()), None, None)
        )
    return BlocklistPlan(file.source, prune, len(current), tuple(adds + changes + removals))


def _globs(patterns: tuple[str, ...] | None) -> str:
    return "" if patterns is None else ", ".join(patterns)


# ------------------------------------------------------------------ apply


def apply_blocklists(
    client: CursorClient, plan: BlocklistPlan, audit: AuditLog, applied: list[str] | None = None
) -> list[str]:
    """One POST .../repos/upsert with every added or changed repository, then (only when the
    plan prunes) one DELETE per removed repository. The audit rows of each call are committed
    before it and completed after it; the first failure stops the apply with WriteFailed (or
    AuditIncomplete). Returns the URLs written."""
    applied = [] if applied is None else applied
    upserts = plan.upserts
    if upserts:
        audit.write(
            [Intent(UPSERT, c.url, _state(c.repo_id, c.before), _state(c.repo_id, c.after)) for c in upserts],
            lambda: client.upsert_repo_blocklists(
                [{"url": c.url, "patterns": list(c.after or ())} for c in upserts]
            ),
            applied,
            f"{len(upserts)} repositories (one upsert)",
            lambda _: "patterns set",
        )
    if plan.prune:
        for c in plan.removals:
            audit.write(
                [Intent(DELETE, c.url, _state(c.repo_id, c.before), None)],
                partial(client.delete_repo_blocklist, str(c.repo_id)),
                applied,
                c.url,
                lambda _: "deleted",
            )
    return applied


def settle_pending(audit: AuditLog, current: list[dict[str, Any]]) -> list[tuple[PendingWrite, str]]:
    """Settle the pending blocklist writes against `current`, a live GET read after them."""
    by_url = {r["url"]: set(r["patterns"] or ()) for r in current}

    def judge(row: PendingWrite) -> tuple[str, str] | None:
        now = by_url.get(row.target)  # None: not blocklisted
        before = None if row.before is None else set(row.before["patterns"])
        after = None if row.after is None else set(row.after["patterns"])
        if row.action not in (UPSERT, DELETE):
            return None
        if now == after:
            return SUCCESS, "the live blocklists show " + (
                "the patterns written" if after is not None else "the repository removed"
            )
        if now == before:
            return NOT_WRITTEN, "the live blocklists still show the repository as before the write"
        return (
            UNKNOWN,
            "the live blocklists show neither the state before nor the one written (changed since?)",
        )

    return audit.settle(judge)


def _state(repo_id: str | None, patterns: tuple[str, ...] | None) -> dict[str, Any] | None:
    if patterns is None:
        return None
    return {"repo_id": repo_id, "patterns": list(patterns)}
