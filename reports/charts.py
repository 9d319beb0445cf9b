"""Plotly figures of a report, as plain dicts (``{"data": [...], "layout": {...}}``) drawn by plotly.js.

Built directly as JSON-ready dicts, not through ``plotly.graph_objects``: a report on a big study
stays fast and the page embeds plotly.js once for every figure.
"""
from __future__ import annotations

from typing import Any

from hpsearch.reports.model import Band, GroupSummary, Report, StudySummary

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
           "#bcbd22"]
Figure = dict[str, Any]


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        "xaxis": {"title": {"text": x}, "zeroline": False},
        "yaxis": {"title": {"text": y}, "zeroline": False},
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "height": 380,
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "template": None,
    }
    layout.update(extra)
    return layout


def _target_lines(targets: list[float]) -> list[dict[str, Any]]:
    return [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": t, "y1": t,
         "line": {"dash": "dot", "width": 1, "color": "#888"}}
        for t in targets
    ]


def _band_traces(group: GroupSummary, band: Band, color: str, scale: float) -> list[dict[str, Any]]:
    x = [v / scale for v in band.x]
    traces = []
    if group.runs > 1:
        traces.append({"x": x, "y": band.low, "mode": "lines", "line": {"width": 0, "shape": "hv"},
                       "hoverinfo": "skip", "showlegend": False, "legendgroup": group.label, "connectgaps": False})
        traces.append({"x": x, "y": band.high, "mode": "lines", "line": {"width": 0, "shape": "hv"},
                       "fill": "tonexty", "fillcolor": _rgba(color, 0.18), "hoverinfo": "skip",
                       "showlegend": False, "legendgroup": group.label, "connectgaps": False})
    name = group.label if group.runs == 1 else f"{group.label} (median of {group.runs} seeds, IQR band)"
    traces.append({"x": x, "y": band.median, "mode": "lines+markers", "name": name, "legendgroup": group.label,
                   "line": {"color": color, "width": 2, "shape": "hv"}, "marker": {"size": 5}})
    return traces


def anytime(report: Report, axis: str) -> Figure:
    """Best-so-far per backend against cumulative training epochs (``axis="epochs"``) or minutes."""
    by_epochs = axis == "epochs"
    traces = []
    for index, group in enumerate(report.groups):
        band = group.by_epochs if by_epochs else group.by_seconds
        traces += _band_traces(group, band, PALETTE[index % len(PALETTE)], 1.0 if by_epochs else 60.0)
    x = "cumulative training epochs" if by_epochs else "search time (minutes)"
    title = f"Best {report.metric} so far, by {'training epochs' if by_epochs else 'wall-clock time'}"
    return {"data": traces, "layout": _layout(title, x, f"best {report.metric}", shapes=_target_lines(report.targets))}


def learning_curves(study: StudySummary) -> Figure:
    traces = []
    for index, curve in enumerate(study.top_curves):
        color = PALETTE[index % len(PALETTE)]
        text = [("carried over" if s < curve.first_own_step else "trained") for s in curve.steps]
        traces.append({"x": curve.steps, "y": curve.values, "mode": "lines+markers", "text": text,
                       "name": f"#{curve.trial} ({curve.value:.4f})", "line": {"color": color}})
    return {"data": traces, "layout": _layout(f"{study.name}: learning curves of the top trials", "epoch",
                                              study.metric, xaxis={"title": {"text": "epoch"}, "dtick": 1})}


def importances(study: StudySummary) -> Figure:
    items = sorted((study.importances or {}).items(), key=lambda kv: kv[1])
    trace = {"type": "bar", "orientation": "h", "x": [v for _, v in items], "y": [k for k, _ in items],
             "marker": {"color": PALETTE[0]}}
    return {"data": [trace], "layout": _layout(f"{study.name}: parameter importances (fANOVA)", "importance", "",
                                               height=max(220, 40 + 28 * len(items)),
                                               margin={"l": 130, "r": 20, "t": 45, "b": 50})}


def parallel(study: StudySummary) -> Figure:
    dimensions = []
    for name in study.parallel_params:
        values = [row[name] for row in study.parallel_rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            dimensions.append({"label": name, "values": values})
        else:
            labels = list(dict.fromkeys(str(v) for v in values))
            codes = {label: i for i, label in enumerate(labels)}
            dimensions.append({"label": name, "values": [codes[str(v)] for v in values],
                               "tickvals": list(range(len(labels))), "ticktext": labels})
    objective = [row["value"] for row in study.parallel_rows]
    dimensions.append({"label": study.metric, "values": objective})
    trace = {"type": "parcoords", "dimensions": dimensions,
             "line": {"color": objective, "colorscale": "Viridis", "showscale": True,
                      "reversescale": study.direction == "minimize"}}
    layout = _layout(f"{study.name}: parallel coordinates of the best {len(objective)} trials", "", "",
                     margin={"l": 70, "r": 70, "t": 70, "b": 30})
    return {"data": [trace], "layout": layout}


def gradient_norms(study: StudySummary) -> Figure:
    traces = []
    for index, series in enumerate(study.gradient_norms):
        # A norm that underflowed to 0 (a deep sigmoid net's first layers) has no place on a log axis.
        norms = [n if n > 0 else None for n in series.norms]
        traces.append({"x": list(range(1, len(norms) + 1)), "y": norms, "mode": "lines+markers",
                       "name": series.label, "line": {"color": PALETTE[index % len(PALETTE)]},
                       "marker": {"size": 4}})
    layout = _layout(f"{study.name}: mean gradient norm by layer, first epoch", "dense layer (input side first)",
                     "gradient norm (log)", yaxis={"type": "log", "title": {"text": "gradient norm (log)"}},
                     height=460, legend={"orientation": "v", "font": {"size": 10}})
    return {"data": traces, "layout": layout}
