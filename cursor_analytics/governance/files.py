"""Reading governance files: YAML with a line number on every value, and one error that lists
every problem as `path:line: field: what is wrong, and the fix`.

The files are parsed into PyYAML nodes (`yaml.compose`), which keep the position of each key and
value, and checked against a small schema here, before anything reads the warehouse or calls the
API. Only plain YAML is accepted: mappings, lists, strings, integers, floats, booleans and null.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import yaml

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a governance file: where (1-based line, dotted field) and what."""

    line: int
    field: str
    message: str

    def render(self, path: str) -> str:
        return f"{path}:{self.line}: {self.field}: {self.message}"


class GovernanceFileError(ValueError):
    """A governance file that cannot be applied. `problems` lists each with its line and field;
    the message has one `path:line: field: problem` line per problem."""

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path = str(path)
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        lines = [p.render(self.path) for p in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{self.path}: {len(lines)} problems\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(text + "\nNothing was applied: fix the file and plan again.")


@dataclass(frozen=True)
class Source:
    """Where a governance file came from: its path and the SHA-256 of the exact bytes read
    (recorded with every write in the audit log)."""

    path: str
    sha256: str


@dataclass
class Node:
    """A YAML value with its 1-based line and its dotted field path."""

    field: str
    line: int
    yaml_node: yaml.Node = dataclass_field(repr=False)

    @property
    def is_null(self) -> bool:
        return isinstance(self.yaml_node, yaml.ScalarNode) and self.yaml_node.tag.endswith(":null")


class Reader:
    """Walks a composed YAML document and collects problems instead of stopping at the first."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.problems: list[Problem] = []
        self._constructor = yaml.SafeLoader("")

    # ------------------------------------------------------------ loading

    def load(self, expected: str) -> tuple[Node | None, Source]:
        """Read and compose the file. Returns the root node (None when the file cannot be read
        as YAML; the problem is recorded) and the file's Source."""
        try:
            data = Path(self.path).read_bytes()
        except FileNotFoundError:
            raise GovernanceFileError(
                self.path, [Problem(1, "(file)", f"no such file: create it ({expected}) or pass its path")]
            ) from None
        except OSError as exc:
            raise GovernanceFileError(
                self.path, [Problem(1, "(file)", f"cannot be read: {exc.strerror}")]
            ) from None
        source = Source(self.path, hashlib.sha256(data).hexdigest())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problem(line, "(file)", "is not UTF-8 text: save the file as UTF-8")
            return None, source
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            self.problem(*_syntax_problem(exc))
            return None, source
        except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks its errors
            self.problem(1, "(syntax)", f"is not valid YAML: {exc}")
            return None, source
        if root is None:
            self.problem(1, "(file)", f"is empty: expected {expected}")
            return None, source
        return Node("(top level)", root.start_mark.line + 1, root), source

    def problem(self, line: int, field_path: str, message: str) -> None:
        self.problems.append(Problem(line, field_path, message))

    def raise_if_problems(self) -> None:
        if self.problems:
            raise GovernanceFileError(self.path, self.problems)

    # ------------------------------------------------------------ shapes

    def mapping(self, node: Node, what: str) -> Iterator[tuple[str, Node, Node]]:
        """(key, key node, value node) for each entry of a mapping; records a problem (and
        yields nothing) when the node is not a mapping, and flags non-text or repeated keys."""
        if not isinstance(node.yaml_node, yaml.MappingNode):
            self.problem(node.line, node.field, f"must be a mapping of {what}, got {_kind(node.yaml_node)}")
            return
        seen: dict[str, int] = {}
        for key_node, value_node in node.yaml_node.value:
            line = key_node.start_mark.line + 1
            key = self._scalar(key_node)
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key, str):
                self.problem(line, node.field, f"keys must be text ({what}), got {_describe(key, key_node)}")
                continue
            path = key if node.field == "(top level)" else f"{node.field}.{key}"
            if key in seen:
                self.problem(line, path, f"appears twice (also on line {seen[key]}): keep one")
                continue
            seen[key] = line
            yield key, Node(path, line, key_node), Node(path, value_node.start_mark.line + 1, value_node)

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node.yaml_node, yaml.SequenceNode):
            self.problem(node.line, node.field, f"must be a list of {what}, got {_kind(node.yaml_node)}")
            return []
        return [
            Node(f"{node.field}[{i}]", item.start_mark.line + 1, item)
            for i, item in enumerate(node.yaml_node.value)
        ]

    def scalar(self, node: Node) -> tuple[bool, Any]:
        """(ok, value) of a plain scalar; records a problem for lists, mappings and tags."""
        if not isinstance(node.yaml_node, yaml.ScalarNode):
            self.problem(node.line, node.field, f"must be a single value, got {_kind(node.yaml_node)}")
            return False, None
        if node.yaml_node.tag not in _SCALAR_TAGS:
            self.problem(node.line, node.field, f"uses the YAML tag {node.yaml_node.tag!r}: remove the tag")
            return False, None
        return True, self._scalar(node.yaml_node)

    def _scalar(self, yaml_node: yaml.Node) -> Any:
        if not isinstance(yaml_node, yaml.ScalarNode) or yaml_node.tag not in _SCALAR_TAGS:
            return None
        return self._constructor.construct_object(yaml_node, deep=True)

    def whole_dollars(self, node: Node) -> tuple[bool, int | None]:
        """A spend limit: a whole number of dollars >= 0, or null for no limit."""
        ok, value = self.scalar(node)
        if not ok:
            return False, None
        if value is None:
            return True, None
        if isinstance(value, bool):
            self.problem(
                node.line, node.field, f"must be whole dollars or null, got {node.yaml_node.value!r}"
            )
            return False, None
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                self.problem(node.line, node.field, f"must be whole dollars, got {node.yaml_node.value}")
            elif value.is_integer():
                self.problem(
                    node.line,
                    node.field,
                    f"must be whole dollars written as an integer, got {node.yaml_node.value}: "
                    f"write {int(value)}",
                )
            else:
                low = int(value // 1)
                self.problem(
                    node.line,
                    node.field,
                    f"fractional dollars ({node.yaml_node.value}) are not accepted: the API takes "
                    f"whole dollars, write {low} or {low + 1}",
                )
            return False, None
        if isinstance(value, str):
            hint = value.strip().lstrip("$").replace(",", "")
            fix = f": write {hint} without quotes or $" if hint.isdigit() else " (or null for no limit)"
            self.problem(node.line, node.field, f"must be whole dollars, got the text {value!r}{fix}")
            return False, None
        if value < 0:
            self.problem(node.line, node.field, f"must not be negative, got {value}: use 0 for a $0 limit")
            return False, None
        return True, int(value)


def _syntax_problem(exc: yaml.MarkedYAMLError) -> tuple[int, str, str]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    if exc.context and "alias" in exc.context:
        return (
            line,
            "(syntax)",
            'a value starting with * is read by YAML as an alias: quote it, e.g. - "*.env"',
        )
    detail = exc.problem or str(exc)
    if exc.context:
        detail = f"{detail} ({exc.context})"
    return line, "(syntax)", f"is not valid YAML: {detail}"


def _kind(yaml_node: yaml.Node) -> str:
    if isinstance(yaml_node, yaml.MappingNode):
        return "a mapping"
    if isinstance(yaml_node, yaml.SequenceNode):
        return "a list"
    if yaml_node.tag.endswith(":null"):
        return "null"
    return repr(yaml_node.value)


def _describe(value: Any, yaml_node: yaml.Node) -> str:
    if isinstance(yaml_node, yaml.ScalarNode):
        return repr(yaml_node.value)
    return _kind(yaml_node)
