"""Errors a user can cause. The CLI prints them as one clear message and exits 2."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

EXIT_USER_ERROR = 2


class IrmError(Exception):
    """Base class for every error that a user can fix (bad input, bad config)."""

    exit_code = EXIT_USER_ERROR


class ConfigError(IrmError):
    """The composed configuration is invalid or inconsistent."""


class InputError(IrmError):
    """An input file is missing, unreadable, empty or in an unsupported format."""


@dataclass(frozen=True)
class Violation:
    """One broken rule of the data contract.

    Attributes:
        column: the column as the user knows it (source name, with the canonical name if mapped).
        rule: the rule, in words.
        count: how many rows break it (0 when the rule is about the file, e.g. a missing column).
        examples: up to five offending rows, already rendered as text.
    """

    column: str
    rule: str
    count: int = 0
    examples: Sequence[str] = field(default_factory=tuple)

    def render(self) -> str:
        head = f"  column {self.column}: {self.rule}"
        if self.count:
            rows = "1 row breaks" if self.count == 1 else f"{self.count} rows break"
            head += f" — {rows} it"
        lines = [head]
        if self.examples:
            lines.append("    e.g.")
            lines.extend(f"      {ex}" for ex in self.examples)
        return "\n".join(lines)


class ContractError(IrmError):
    """An input file breaks the data contract. Lists every violation found, not only the first."""

    def __init__(self, source: str, violations: Sequence[Violation], hint: str = ""):
        self.source = source
        self.violations = list(violations)
        n = len(self.violations)
        body = "\n".join(v.render() for v in self.violations)
        super().__init__(
            f"{source}: {n} data contract violation{'s' if n != 1 else ''}; nothing was written.\n"
            f"{body}" + (f"\n  {hint}" if hint else "")
        )
