"""Mutants of what mutmut leaves alone: the module- and class-level code of ``billing/domain``.

The rules kept in tables and constants (state machine transitions, currency lists, statuses, limits, field
constraints, allowed literal values) change behaviour as much as code does. Each mutant changes one thing:

- a number (a limit, a default, a ``Field(max_length=…)``) is raised by one; a boolean is flipped;
- a string is changed (a state name, a format, a pattern);
- one element is removed from a set, list or tuple, one word from a ``"a b c".split()`` list, one value from a
  ``Literal[…]`` annotation, one entry from a dict;
- one transition is added to a state machine's table (a ``{(state, action): state}`` dict): every (state, action)
  pair the table does not have, going where that action goes from elsewhere.

Each mutant is written over a copy of the package and the domain's unit tests run against it (stopping at the
first failure); a mutant that fails to import is killed.
"""

from __future__ import annotations

import ast
import copy
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Mutant:
    module: str
    name: str  # billing.domain.<module>.<where>__<what>, stable across runs while the code does not move
    source: str


def _level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Assignments at module level and in class bodies (never inside functions)."""
    for statement in body:
        if isinstance(statement, ast.ClassDef):
            yield from _level_statements(statement.body)
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            yield statement


def _target_name(statement: ast.Assign | ast.AnnAssign) -> str:
    target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
    return ast.unparse(target).replace(" ", "")


def _walk_values(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` but inside lambdas and functions."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, FUNCTION_NODES):
            yield from _walk_values(child)


def _edits(statement: ast.Assign | ast.AnnAssign) -> Iterator[tuple[str, Callable[[ast.AST], None], ast.AST]]:
    """(what, how, on which node) for each mutation of one assignment."""
    parts: list[ast.AST] = []
    if statement.value is not None:
        parts.append(statement.value)
    if isinstance(statement, ast.AnnAssign):
        parts.append(statement.annotation)
    dict_keys = {
        id(k) for part in parts for node in _walk_values(part) if isinstance(node, ast.Dict) for k in node.keys
    }
    # documentation, not rules: a field's description, title and examples, whatever they are made of (they reach
    # the OpenAPI document, which its own test pins)
    prose = {
        id(inner)
        for part in parts
        for node in _walk_values(part)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg in ("description", "title", "examples")
        for inner in ast.walk(kw.value)
    }
    for part in parts:
        for node in _walk_values(part):
            if id(node) in prose:
                continue
            if part is statement.value:
                yield from _node_edits(node, dict_keys)
            else:  # an annotation: only the values a Literal allows are rules (the rest is typing)
                yield from _literal_edits(node)


def _literal_edits(node: ast.AST) -> Iterator[tuple[str, Callable, ast.AST]]:
    if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
        values = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
        for i, value in enumerate(values):

            def drop_literal(n: ast.AST, i: int = i) -> None:
                del n.slice.elts[i]

            yield f"literal_without_{ast.unparse(value)[:24]}", drop_literal, node


def _node_edits(node: ast.AST, dict_keys: set[int]) -> Iterator[tuple[str, Callable, ast.AST]]:
    yield from _literal_edits(node)  # Literal[...] in a value: a type alias (Scheme = Literal[...])
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            yield f"flip_{node.value}", lambda n: setattr(n, "value", not n.value), node
        elif isinstance(node.value, int | float):
            yield f"{node.value}_plus_1", lambda n: setattr(n, "value", n.value + 1), node
        elif isinstance(node.value, str) and node.value:
            yield f"str_{node.value[:24]}", lambda n: setattr(n, "value", "XX" + n.value + "XX"), node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "split":
        receiver = node.func.value
        if isinstance(receiver, ast.Constant) and isinstance(receiver.value, str) and not node.args:
            words = receiver.value.split()
            for i, word in enumerate(words):

                def drop_word(n: ast.AST, i: int = i) -> None:
                    kept = n.func.value.value.split()
                    del kept[i]
                    n.func.value.value = " ".join(kept)

                yield f"without_{word}", drop_word, node
    if isinstance(node, ast.Set | ast.List | ast.Tuple) and id(node) not in dict_keys and len(node.elts) > 1:
        for i, element in enumerate(node.elts):

            def drop(n: ast.AST, i: int = i) -> None:
                del n.elts[i]

            yield f"without_{ast.unparse(element)[:32]}", drop, node
    if isinstance(node, ast.Dict) and node.keys and None not in node.keys:
        for i, key in enumerate(node.keys):

            def drop_entry(n: ast.AST, i: int = i) -> None:
                del n.keys[i]
                del n.values[i]

            yield f"without_key_{ast.unparse(key)[:40]}", drop_entry, node
        yield from _added_transitions(node)


def _added_transitions(node: ast.Dict) -> Iterator[tuple[str, Callable, ast.AST]]:
    """For a ``{(state, action): state}`` table: each missing pair, going where its action goes elsewhere."""
    try:
        pairs = [ast.literal_eval(k) for k in node.keys]
        targets = [ast.literal_eval(v) for v in node.values]
    except ValueError:
        return
    if not all(isinstance(p, tuple) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs):
        return
    if not all(isinstance(t, str) for t in targets):
        return
    states = sorted({s for s, _ in pairs} | set(targets))
    actions = sorted({a for _, a in pairs})
    goes = {a: t for (_, a), t in zip(pairs, targets, strict=True)}
    for state in states:
        for action in actions:
            if (state, action) in pairs:
                continue

            def add(n: ast.AST, state: str = state, action: str = action) -> None:
                n.keys.append(ast.Tuple([ast.Constant(state), ast.Constant(action)], ast.Load()))
                n.values.append(ast.Constant(goes[action]))

            yield f"adds_{state}_{action}", add, node


def mutants(module: str, source: str) -> Iterator[Mutant]:
    tree = ast.parse(source)
    seen: dict[str, int] = {}
    for statement in _level_statements(tree.body):
        where = _target_name(statement)
        for index, (what, _, _) in enumerate(list(_edits(statement))):
            mutated = copy.deepcopy(tree)
            statement_copy = next(s for s in _level_statements(mutated.body) if ast.dump(s) == ast.dump(statement))
            _, edit, target = list(_edits(statement_copy))[index]
            edit(target)
            name = f"billing.domain.{module}.{where}__{_slug(what)}"
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name += f"_{seen[name]}"
            yield Mutant(module, name, ast.unparse(mutated))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


# --- running them -----------------------------------------------------------------------------------------------
def _pytest(src: Path, env: dict[str, str], tests: list[Path]) -> int:
    run_env = {**env, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cwd = tests[0].parents[2]
    return subprocess.run(
        [*command, *map(str, tests)], env=run_env, capture_output=True, cwd=cwd, timeout=600
    ).returncode


def relevant_tests(module: str, domain: list[Path], tests: Path) -> list[Path]:
    """The test files that exercise ``module``: those importing it or a domain module that (transitively) does."""

    def imports(text: str, name: str) -> bool:
        return bool(
            re.search(rf"billing\.domain\.{name}\b", text)
            or re.search(rf"from billing\.domain import [^\n]*\b{name}\b", text)
        )

    sources = {p.stem: p.read_text() for p in domain}
    users, grew = {module}, True
    while grew:
        grew = False
        for name, text in sources.items():
            if name not in users and any(imports(text, used) for used in users):
                users.add(name)
                grew = True
    found = [t for t in sorted(tests.glob("test_*.py")) if any(imports(t.read_text(), u) for u in users)]
    return found or sorted(tests.glob("test_*.py"))


def run(work: Path, env: dict[str, str], jobs: int, only: str | None = None) -> dict[str, dict[str, str]]:
    """Run every table mutant; the verdict of each, by module."""
    package = work / "src" / "billing"
    tests = work / "tests" / "unit"
    domain = sorted(p for p in (package / "domain").glob("*.py") if p.name != "__init__.py")
    todo: list[Mutant] = []
    for path in domain:
        if only and path.stem != only:
            continue
        original = path.read_text()
        todo += list(mutants(path.stem, original))
    relevant = {path.stem: relevant_tests(path.stem, domain, tests) for path in domain}
    slots: list[Path] = []
    for n in range(jobs):
        slot = work / "tables" / str(n) / "src"
        shutil.rmtree(slot.parent, ignore_errors=True)
        shutil.copytree(work / "src", slot, ignore=shutil.ignore_patterns("__pycache__"))
        slots.append(slot)
    free = list(slots)
    lock = threading.Lock()
    verdicts: dict[str, dict[str, str]] = {}

    def check(mutant: Mutant) -> None:
        with lock:
            slot = free.pop()
        target = slot / "billing" / "domain" / f"{mutant.module}.py"
        original = target.read_text()
        try:
            target.write_text(mutant.source)
            code = _pytest(slot, env, relevant[mutant.module])
        finally:
            target.write_text(original)
            with lock:
                free.append(slot)
        verdict = "survived" if code == 0 else "killed"
        with lock:
            verdicts.setdefault(mutant.module, {})[mutant.name] = verdict
            print(f"{'🎉' if verdict == 'killed' else '🙁'} {mutant.name}", flush=True)

    for path in domain:  # the unparsed module (what every mutant is written as) passes, or nothing here counts
        if only and path.stem != only:
            continue
        target = slots[0] / "billing" / "domain" / path.name
        target.write_text(ast.unparse(ast.parse(path.read_text())))
        code = _pytest(slots[0], env, relevant[path.stem])
        target.write_text(path.read_text())
        if code != 0:
            raise SystemExit(f"the domain's tests fail on {path.name} as ast.unparse writes it: fix that first")
    print(f"{len(todo)} module- and class-level mutants", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(check, todo))
    return verdicts
