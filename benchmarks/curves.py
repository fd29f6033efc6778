"""Cost curves: how a cost grows with the work, as a small table and a PNG.

``curve("broadcast", x_label="recipients", y_label="s per 1,000", series={
"ours": [(10_000, 0.41), (100_000, 0.40)]})`` prints the table and writes
``var/bench/broadcast.png`` (matplotlib, no screen needed). A flat line is the
goal wherever the cost should grow with the work and not faster.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

OUT = Path(__file__).resolve().parent.parent / "var" / "bench"


def curve(
    name: str,
    *,
    x_label: str,
    y_label: str,
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str = "",
    log_x: bool = True,
) -> Path:
    """Print ``series`` as a table (one row per x, one column per series) and
    write it as a line chart to ``var/bench/<name>.png``; returns the path."""
    xs = sorted({x for points in series.values() for x, _ in points})
    width = max(12, *(len(label) + 2 for label in series))
    print(f"\n{title or name}: {y_label} by {x_label}")
    print(f"{x_label:>14}" + "".join(f"{label:>{width}}" for label in series))
    for x in xs:
        cells = []
        for points in series.values():
            y = dict(points).get(x)
            cells.append(f"{'-' if y is None else f'{y:.4g}':>{width}}")
        print(f"{x:>14,}" + "".join(cells))

    OUT.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    for label, points in series.items():
        ordered = sorted(points)
        axes.plot([x for x, _ in ordered], [y for _, y in ordered], marker="o", label=label)
    if log_x:
        axes.set_xscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_ylim(bottom=0)
    axes.set_title(title or name)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = OUT / f"{name}.png"
    figure.savefig(path)
    plt.close(figure)
    print(f"chart: {path}")
    return path
