"""What the bench prints: progress on stderr, one JSON line per result on stdout, a table at the end."""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

STARTED = time.monotonic()


def say(text: str) -> None:
    """One line of progress on stderr, with the minutes and seconds since the bench started."""
    elapsed = int(time.monotonic() - STARTED)
    print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    """The median, rounded to milliseconds; None for no values."""
    return round(statistics.median(values), 3) if values else None


def percentile(values: list[float], pct: float) -> float | None:
    """The value below which `pct` percent of the values fall (nearest rank); None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return round(ordered[rank - 1], 3)


def ratio(ours: float | None, direct: float | None) -> float | None:
    """ours / direct, or None when either is missing or direct is zero."""
    if ours is None or not direct:
        return None
    return round(ours / direct, 3)


@dataclass
class Result:
    """One line of the bench's output: a scenario (and case), our time, the direct time, their
    ratio (ours / direct: below 1 is faster than direct), the target and more figures."""

    scenario: str
    case: str
    ours_s: float | None
    direct_s: float | None
    target: str
    extra: dict[str, Any] = field(default_factory=dict)
    meets: bool | None = None

    @property
    def ratio(self) -> float | None:
        """ours_s / direct_s."""
        return ratio(self.ours_s, self.direct_s)

    def as_json(self) -> dict[str, Any]:
        """The result as its JSON line holds it."""
        return {
            "scenario": self.scenario,
            "case": self.case,
            "ours_s": self.ours_s,
            "direct_s": self.direct_s,
            "ratio": self.ratio,
            "target": self.target,
            "meets_target": self.meets,
            **self.extra,
        }


@dataclass
class Report:
    """The results so far; each is printed as a JSON line as soon as it is known."""

    results: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        """Keep the result and print its JSON line."""
        self.results.append(result)
        print(json.dumps(result.as_json(), default=str), flush=True)

    def table(self) -> str:
        """The results as a short fixed-width table."""
        header = ("scenario", "case", "ours_s", "direct_s", "ratio", "target", "meets")
        rows = [header]
        for r in self.results:
            meets = "-" if r.meets is None else ("yes" if r.meets else "NO")
            rows.append(
                (r.scenario, r.case, _num(r.ours_s), _num(r.direct_s), _num(r.ratio), r.target, meets)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
