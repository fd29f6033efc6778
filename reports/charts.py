"""The report chart, drawn with matplotlib's object API on the Agg canvas (no pyplot state)."""

from io import BytesIO

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def sales_chart_png(frame: pd.DataFrame, *, title: str) -> bytes:
    """Sales per day with its 7-day average above, order counts below."""
    figure = Figure(figsize=(10, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    sales_axes, orders_axes = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    days = pd.to_datetime(pd.Index(frame.index))

    sales_axes.bar(days, frame["sales"], color="#93c5fd", label="sales")
    sales_axes.plot(days, frame["sales_7d_avg"], color="#1d4ed8", label="7-day average")
    sales_axes.set_ylabel("sales")
    sales_axes.legend(loc="upper left")
    sales_axes.set_title(title)
    orders_axes.bar(days, frame["orders"], color="#6ee7b7")
    orders_axes.set_ylabel("orders")
    if not frame["orders"].any():
        sales_axes.text(
            0.5,
            0.5,
            "No sales in this period",
            transform=sales_axes.transAxes,
            ha="center",
            va="center",
            fontsize=16,
            color="#6b7280",
        )
    figure.autofmt_xdate()

    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
