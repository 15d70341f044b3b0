"""Sphinx configuration for the lrsolve documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` after
``pip install ".[docs]"``.  The build needs no network: intersphinx is not used.
"""

import importlib.util
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import lrsolve  # noqa: E402

project = "lrsolve"
author = "the lrsolve developers"
copyright = "the lrsolve developers, BSD-3-Clause"
version = lrsolve.__version__
release = lrsolve.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
if importlib.util.find_spec("myst_parser") is not None:
    extensions.append("myst_parser")
    source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
    myst_heading_anchors = 3
else:  # pragma: no cover - the docs extra installs myst-parser
    raise RuntimeError(
        "building the docs needs myst-parser (docs/benchmarks.md is Markdown): "
        "pip install '.[docs]'"
    )

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "benchmarks/*.md"]
root_doc = "index"
default_role = "autolink"

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# docstrings are validated by tests/test_docs.py (numpydoc.validate), not during the build

# -- HTML -------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"lrsolve {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "auto"}
