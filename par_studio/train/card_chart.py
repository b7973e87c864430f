"""The model card's chart: note and note+offset F1 against look-ahead for both presets (as the
PAR paper draws its latency figure), from the shipped models' ``*.eval.json``.

    models/lookahead.svg   one panel per held-out set; x: look-ahead (ms), y: F1 (app defaults)

The plotted figures are also stored, as JSON, in the SVG's ``<dc:description>``, so a test can
check that the drawing is that of the models beside it without comparing pixels.
"""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

from ..midi_io import atomic_write_bytes
from .ship import LOOKAHEADS, PRESETS, lookahead_points

CHART = "lookahead.svg"
SETS = (("splendid", "held-out Steinway (Splendid Grand)"), ("freepats", "held-out freepats (TiMidity)"))
COLOURS = {"par-compact": "#1f77b4", "par": "#d62728"}


def chart_data(models_dir: Path) -> dict:
    """{"preset": {"set": {"note": [[ms, F1], ...], "note_offset": [...]}}}: the points drawn,
    look-aheads without shipped weights left out."""
    got = lookahead_points(models_dir, tuple(s for s, _ in SETS))
    data: dict = {}
    for preset, _ in PRESETS:
        for s, _ in SETS:
            pts = [(ms, got[(preset, ms)][s]) for ms in LOOKAHEADS if s in got.get((preset, ms), {})]
            data.setdefault(preset, {})[s] = {
                "note": [[ms, round(f[0], 4)] for ms, f in pts],
                "note_offset": [[ms, round(f[1], 4)] for ms, f in pts]}
    return data


def render_chart(data: dict) -> bytes:
    """The SVG of ``data`` (as :func:`chart_data` gives it)."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no GUI backend chosen, savefig renders the SVG itself

    fig = Figure(figsize=(9, 3.8))
    axes = fig.subplots(1, len(SETS), sharey=True)
    for ax, (s, title) in zip(axes, SETS):
        for preset, label in PRESETS:
            for metric, style, mark, what in (("note", "-", "o", "note"), ("note_offset", "--", "s", "note+offset")):
                pts = data.get(preset, {}).get(s, {}).get(metric, [])
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=mark,
                            color=COLOURS[preset], label=f"{label} {what}")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(LOOKAHEADS)
        ax.set_xlim(LOOKAHEADS[0] - 12, LOOKAHEADS[-1] + 12)
        ax.set_xlabel("look-ahead (ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("F1 (app defaults)")
    axes[0].set_ylim(0.4, 1.0)
    if axes[-1].get_legend_handles_labels()[0]:  # nothing shipped with figures on that set: no legend
        axes[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "par-studio", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Description": json.dumps(data, sort_keys=True)})
    return buf.getvalue()


def write_lookahead_chart(models_dir: Path) -> Path:
    """Redraw ``models_dir/lookahead.svg`` from the eval files there (atomically)."""
    out = models_dir / CHART
    atomic_write_bytes(out, render_chart(chart_data(models_dir)))
    return out


def read_chart_data(path: Path) -> dict:
    """The figures stored in a chart written by :func:`write_lookahead_chart`."""
    m = re.search(r"<dc:description>(.*?)</dc:description>", path.read_text(), re.S)
    if not m:
        raise ValueError(f"{path}: no figures stored in this chart")
    return json.loads(html.unescape(m.group(1)))
