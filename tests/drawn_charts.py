"""Charts (issue 18): matplotlib bar and line charts (1000×700) of one style, title, axes and colours per
family; the values differ, some pairs in one bar or one point only (by 12–20%)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from drawing import Drawn

if TYPE_CHECKING:
    from PIL import Image


CHART_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
REGIONS = ("North", "South", "East", "West", "Central", "Online", "Export", "Other")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def chart(kind: str, values: Sequence[Sequence[float]], size: tuple[int, int] = (1000, 700)) -> Image.Image:
    """A matplotlib chart (Agg, no pyplot) as a PIL image: ``bar`` (one series, one bar per region) or
    ``line`` (three series over twelve months). The axes' limits are fixed, so only the data move."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.1)
    if kind == "bar":
        ax.bar(REGIONS, values[0], color=CHART_COLOURS, width=0.65)
        ax.set_ylim(0, 150)
        ax.set_title("Revenue by region, 2023", fontsize=18)
        ax.set_ylabel("thousand USD", fontsize=13)
    else:
        for series, name, colour in zip(values, ("iOS", "Android", "Web"), CHART_COLOURS[:3], strict=True):
            ax.plot(MONTHS, series, color=colour, marker="o", linewidth=2.5, label=name)
        ax.set_ylim(0, 120)
        ax.set_title("Weekly active users, 2023", fontsize=18)
        ax.set_ylabel("thousand users", fontsize=13)
        ax.legend(loc="upper left", fontsize=12)
    ax.grid(axis="y", alpha=0.35)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=12)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def chart_members(base: list[list[float]], n: int, rng: random.Random) -> list[tuple[list[list[float]], str]]:
    """``base``; three members that each change one value of it by 12–20%; the rest change every value by up
    to 15%. As (values, note)."""
    return [(values, note) for values, note, _ in _chart_members(base, n, rng)]


def _chart_members(
    base: list[list[float]], n: int, rng: random.Random
) -> list[tuple[list[list[float]], str, str]]:
    """:func:`chart_members` with each member's spot group: ``one value`` for ``base`` and the members that
    change one value of it (any two of them differ in one bar or point, or two), none for the others."""
    out = [(base, "the family's first member", "one value")]
    spots = rng.sample([(s, i) for s in range(len(base)) for i in range(len(base[0]))], 3)
    for (s, i), factor in zip(
        spots, (rng.uniform(1.12, 1.2), rng.uniform(0.8, 0.88), rng.uniform(1.12, 1.2)), strict=True
    ):
        if len(out) < n:
            values = [list(series) for series in base]
            values[s][i] *= factor
            out.append((values, f"member 0 with value {i} of series {s} × {factor:.2f}", "one value"))
    while len(out) < n:
        values = [[v * rng.uniform(0.85, 1.15) for v in series] for series in base]
        out.append((values, "member 0 with every value × 0.85–1.15", ""))
    return out


def draw(rng: random.Random, per_family: int = 6) -> list[Drawn]:
    """A family of bar charts and a family of line charts, ``per_family`` each; the first member of each and
    those that change one of its values form the spot group ``one value``."""
    bar = [[rng.uniform(40, 110) for _ in REGIONS]]
    line = []
    for _ in range(3):
        v = [rng.uniform(20, 60)]
        for _ in MONTHS[1:]:
            v.append(min(90.0, max(10.0, v[-1] + rng.uniform(-8, 10))))
        line.append(v)
    out = []
    for kind, base in (("bar", bar), ("line", line)):
        for values, note, group in _chart_members(base, per_family, rng):
            out.append(Drawn(f"chart-{kind}", chart(kind, values), note, group))
    return out


def charts(rng: random.Random, per_family: int = 6) -> list[tuple[str, Image.Image, str]]:
    """A family of bar charts and a family of line charts, ``per_family`` each, as (family, image, note)."""
    return [d.triple for d in draw(rng, per_family)]
