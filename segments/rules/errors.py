"""The one exception the rule engine raises for a bad tree."""

from __future__ import annotations


class RuleError(ValueError):
    """An invalid rule tree. `str(error)` is "<path>: <message>", e.g. "root.children[2].value: expected a number".

    `path` names the bad part of the tree ("root", "root.children[0].value", "version", or "tree" for
    the whole document) and `message` says what is wrong in words a marketer understands.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class CycleError(RuleError):
    """A membership condition that would make groups depend on each other in a loop."""
