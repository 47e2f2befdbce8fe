"""Problems found in input data, and the exception and warning that carry them.

A :class:`Problem` names the file, the row as a spreadsheet shows it (header = row 1), the
column, the offending value, what is wrong and what would be right.  Validation collects
every problem in one pass; :func:`ikdsim.load_observations` then raises one
:class:`DataError` listing all errors, and issues each warning as a :class:`DataWarning`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Problem", "DataError", "DataWarning"]


@dataclass(frozen=True)
class Problem:
    """One problem in an input file.

    Parameters
    ----------
    file : str
        The file as the user named it (or relative to the working directory).
    row : int or None
        The row as a spreadsheet shows it (header = row 1); None for the whole file.
    column : str or None
        The column name; None for a whole row or the whole file.
    value : str or None
        The offending cell as written; None when there is no single value.
    message : str
        What is wrong.
    expected : str
        What would be right ("" when nothing useful can be said).
    severity : {'error', 'warning'}
        Errors make loading fail; warnings do not.

    Examples
    --------
    >>> str(Problem("data/x.csv", 7, "activations", "-5", "negative count",
    ...             "a whole number >= 0"))
    "data/x.csv: row 7, column 'activations': value '-5': negative count; expected a whole number >= 0"
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    expected: str = ""
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warning"):
            raise ValueError(f"severity must be 'error' or 'warning', not {self.severity!r}")

    @property
    def is_error(self) -> bool:
        """True for an error, False for a warning."""
        return self.severity == "error"

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = f"{self.file}: "
        if where:
            text += ", ".join(where) + ": "
        if self.value is not None:
            text += f"value {self.value!r}: "
        text += self.message
        if self.expected:
            text += f"; expected {self.expected}"
        return text


class DataError(ValueError):
    """Input data that cannot be used; ``.problems`` lists every error found.

    Parameters
    ----------
    problems : iterable of Problem
        The errors (warnings may be included; only errors are listed in the message).
    """

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        errors = [p for p in self.problems if p.is_error] or self.problems
        files = sorted({p.file for p in errors})
        head = f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {', '.join(files)}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in errors))


class DataWarning(UserWarning):
    """A problem in input data that does not stop loading (e.g. a decrease rounding explains)."""
