"""A small Sphinx extension for the book (``book/_config.yml``: ``sphinx: extra_extensions``).

It makes the built book self-contained and quiet in the browser console:

* **MathJax from the installed package, not a CDN.**  The HTML is read from ``file://``, on
  machines without internet, and in CI; so MathJax 3 comes from the ``django-static-mathjax``
  wheel (the ``mathjax`` package: MathJax's own ``es5`` build, Apache-2.0) and is copied into
  ``_static/mathjax/`` of the build.
* **Each inline script once.**  Sphinx 7.4 registers an inline script added by an extension
  after the builder started (``app.add_js_file(None, body=...)``: sphinx-thebe's
  ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) both with filename ``None`` and
  with filename ``''``, so it lands twice on every page, and the second ``const`` declaration is
  a ``SyntaxError`` in the console.  The page context is de-duplicated here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: MathJax component the book loads (the one Sphinx loads from a CDN by default).
MATHJAX_COMPONENT = "tex-mml-chtml.js"
#: Parts of MathJax's es5 folder that this component may load (fonts, extensions, menu).
MATHJAX_PARTS = (MATHJAX_COMPONENT, "input", "output", "ui", "a11y", "adaptors")


def mathjax_source() -> Path:
    """MathJax's ``es5`` folder inside the installed ``mathjax`` package."""
    try:
        import mathjax
    except ImportError as exc:  # pragma: no cover - a dependency of emolab
        raise RuntimeError(
            "the book serves MathJax from the `django-static-mathjax` package; install it "
            "(pip install django-static-mathjax, or make venv)"
        ) from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / MATHJAX_COMPONENT).is_file():
        raise RuntimeError(f"{es5 / MATHJAX_COMPONENT} is missing: reinstall django-static-mathjax")
    return es5


def _config_inited(app, config) -> None:
    config.mathjax_path = f"mathjax/{MATHJAX_COMPONENT}"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    src, dest = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (src / part).is_dir():
            shutil.copytree(src / part, dest / part, dirs_exist_ok=True)
        elif (src / part).is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dest / part)


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (getattr(js, "filename", None) or "",  # None and "" are the same inline script
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))  # fmt: skip
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _dedupe_scripts, priority=900)  # after every other handler
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
