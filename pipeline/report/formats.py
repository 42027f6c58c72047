"""How the report writes numbers and tables. The number formats are shared by the section code (table
cells, sentences) and the templates (as Jinja filters), so that a figure reads the same wherever it
appears; a missing value is a dash."""
import dataclasses
from typing import Any, Callable, Collection, Iterable, Optional, Sequence

from components.common.stats import wilson_interval

DASH = "—"


def num(value: Optional[float], digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def pct(value: Optional[float], digits: int = 1) -> str:
    return DASH if value is None else f"{100.0 * value:.{digits}f} %"


def ci(successes: int, trials: int) -> str:
    """The 95 % Wilson interval of a share, in percent."""
    interval = wilson_interval(successes, trials)
    return DASH if interval is None else f"{100 * interval[0]:.1f}–{100 * interval[1]:.1f} %"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def mean_range(values: Sequence[float]) -> str:
    if not values:
        return DASH
    return f"{sum(values) / len(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def shape(dims: Optional[Sequence[Optional[int]]]) -> str:
    """A tensor shape as Python writes it, None for a dimension of any size."""
    return "unknown" if dims is None else "[" + ", ".join("None" if d is None else str(d) for d in dims) + "]"


def css_class(status: str) -> str:
    """A component status ('not run') as a class name ('not-run')."""
    return status.replace(" ", "-")


@dataclasses.dataclass
class Table:
    """A table of plain values, which the `table` macro escapes and lays out. numeric: the indexes of the
    columns aligned right in tabular figures; row_classes: a class name (or None) per row."""
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    numeric: Collection[int] = ()
    row_classes: Sequence[Optional[str]] = ()


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Iterable[int] = (),
          row_class: Optional[Callable[[Sequence[Any]], Optional[str]]] = None) -> Table:
    """row_class: the class of a row, from its values (e.g. "total" for the row named "overall")."""
    rows = list(rows)
    return Table(headers, rows, set(numeric), [row_class(r) for r in rows] if row_class else [None] * len(rows))
