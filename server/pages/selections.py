"""Selection pages: every selection (/selections) and one selection (/selections/NAME) with its images, gathering
more like them, and export. Rendered from `indexer.selections`; the images and the gathering come from the JSON API
(web/static/selection.js)."""

from __future__ import annotations

from flask import Blueprint, render_template

from indexer import selections

from ..api import services

selection_pages = Blueprint("selection_pages", __name__)


@selection_pages.get("/selections")
def selections_page():
    return render_template("selections.html", selections=selections.list_all(services().library))


@selection_pages.get("/selections/<name>")
def selection_page(name: str):
    selection = selections.get(services().library, name)
    return render_template("selection.html", selection=selection)
