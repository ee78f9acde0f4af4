"""The group-reference graph: which group's condition reads which group's membership.

Invariant: this module is the only code that walks the graph. Groups are named by code; `refs` maps
a code to the codes its condition refers to. Validation forbids cycles; a cycle in stored data (a
broken condition) is cut, never followed forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


def dependency_levels(refs: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The codes of `refs` in levels, each code past every level of the codes it refers to (sorted within a level).

    References to codes outside `refs` are ignored: those groups are not being written.
    """
    level: dict[str, int] = {}

    def depth(code: str, seen: frozenset[str]) -> int:
        if code not in level:
            inner = [r for r in refs[code] if r in refs and r not in seen]
            level[code] = 1 + max((depth(r, seen | {code}) for r in inner), default=-1)
        return level[code]

    for code in refs:
        depth(code, frozenset())
    levels: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for code in sorted(refs):
        levels[level[code]].append(code)
    return levels


def with_readers(refs: Mapping[str, Iterable[str]], codes: Iterable[str]) -> set[str]:
    """`codes` and every code of `refs` that refers to one of them, directly or through others."""
    chosen = set(codes)
    grew = True
    while grew:  # a group whose members change can change the groups that read its membership
        more = {code for code, read in refs.items() if code not in chosen and chosen.intersection(read)}
        chosen |= more
        grew = bool(more)
    return chosen


def reference_path(
    *, start: str, target: str, refs_of: Callable[[list[str]], Mapping[str, Iterable[str]]]
) -> list[str] | None:
    """The chain of codes from `start` to `target` following references, or None (breadth first).

    `refs_of(codes)` loads the references of a frontier of codes at once (one query per level).
    """
    parents: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        loaded = refs_of(frontier)
        next_frontier: list[str] = []
        for code in frontier:
            for ref in sorted(loaded.get(code, ())):
                if ref in parents:
                    continue
                parents[ref] = code
                if ref == target:
                    chain = [ref]
                    step: str | None = code
                    while step is not None:
                        chain.append(step)
                        step = parents[step]
                    return list(reversed(chain))
                next_frontier.append(ref)
        frontier = next_frontier
    return None
