"""An ipywidgets explorer that is also an ordinary figure.

Every explorer of the book (:mod:`~emolab.viz.protocol_explorer`,
:mod:`~emolab.viz.synthetic_explorer`, :mod:`~emolab.viz.gate_explorer`) is an
:class:`Explorer`: a row of controls above a matplotlib figure that one ``draw`` function makes
from the controls' values.

* In JupyterLab the controls respond live: each change calls ``draw`` again.
* Executed headless (papermill, CI) the same cell runs: the explorer draws its default state
  once, when it is built.
* Displayed, it offers two representations of itself: the live widget and a static HTML figure
  of its current state (a PNG with a caption).  A front end with the widget manager shows the
  widget; the built book (``book/_config.yml`` ranks the widget view below HTML) and any viewer
  without a kernel show the figure.  So the book's reader sees the default state without a
  kernel, and a reader in JupyterLab sees the explorer.

The HTML figure carries the class ``emolab-explorer`` and the explorer's name in
``data-explorer``: the browser test checks that each one shows its image.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping
from typing import Any

#: CSS class of the static figure in the HTML representation.
STATIC_CLASS = "emolab-explorer"


def figure_png(fig, *, dpi: int = 90) -> bytes:
    """The PNG bytes of a matplotlib figure (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


class Explorer:
    """Controls above a figure drawn by ``draw(**values)``; live in a front end, static without.

    Parameters
    ----------
    name : str
        Short name, shown in the static figure's caption (``"protocol split"``).
    controls : mapping of str to ipywidgets widget
        The keyword each widget's value is passed to ``draw`` as.
    draw : callable
        ``draw(**values) -> matplotlib.figure.Figure``; the explorer closes the figure after
        showing it, so it is not displayed twice.
    caption : str, optional
        What the static figure shows (its default state), for readers without a kernel.

    Attributes
    ----------
    figure_bytes : bytes
        PNG of the latest drawing (the default state until a control moves).
    widget : ipywidgets.VBox
        The controls and the output area, for use inside other layouts.
    """

    def __init__(self, name: str, controls: Mapping[str, Any], draw: Callable, *, caption: str = "") -> None:
        import ipywidgets as widgets

        self.name, self.caption, self._draw = name, caption, draw
        self.controls = dict(controls)
        self.output = widgets.Output()
        rows = [widgets.HBox(list(self.controls.values())[i : i + 3]) for i in range(0, len(self.controls), 3)]
        self.widget = widgets.VBox([*rows, self.output])
        self.figure_bytes = b""
        for w in self.controls.values():
            w.observe(self.update, names="value")
        self.update()

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values, by keyword."""
        return {k: w.value for k, w in self.controls.items()}

    def update(self, *_: Any) -> None:
        """Draw the figure for the current values into the output area (and keep its PNG)."""
        import matplotlib.pyplot as plt

        fig = self._draw(**self.values)
        self.figure_bytes = figure_png(fig)
        plt.close(fig)
        # Set the output area's content directly rather than capturing a display() into it:
        # the same in a front end, and headless it never goes through the executor's capture.
        png = base64.b64encode(self.figure_bytes).decode("ascii")
        self.output.outputs = (
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": png, "text/plain": f"<{self.name} figure>"}},
        )  # fmt: skip

    def static_html(self) -> str:
        """The current state as an HTML ``<figure>`` with an embedded PNG and a caption."""
        data = base64.b64encode(self.figure_bytes).decode("ascii")
        settings = ", ".join(f"{k} = {v!r}" for k, v in self.values.items())
        caption = f"{self.caption} " if self.caption else ""
        return (
            f'<figure class="{STATIC_CLASS}" data-explorer="{html.escape(self.name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.name)} explorer, '
            f'default state" style="max-width: 100%; height: auto;"/>'
            f"<figcaption><em>{html.escape(self.name.capitalize())} explorer</em>, drawn for "
            f"{html.escape(settings)}. {html.escape(caption)}Open the notebook in JupyterLab to "
            "move the controls.</figcaption></figure>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"<{self.name} explorer: {self.values}>"
        return bundle

    def __repr__(self) -> str:
        return f"Explorer({self.name!r}, {self.values})"
