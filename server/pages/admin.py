"""The admin page (/admin, admin only): the library at a glance, its folders, jobs live, the failure report and the
export tokens. Rendered from `indexer.admin`; web/static/admin.js follows the jobs (Server-Sent Events) and acts."""

from __future__ import annotations

from flask import Blueprint, render_template

from indexer import admin

from ..api import services
from ..auth import ADMIN

admin_pages = Blueprint("admin_pages", __name__)


@admin_pages.get("/admin")
def admin_page():
    return render_template("admin.html", overview=admin.overview(services().library, services().watch_state()))


setattr(admin_page, "auth_level", ADMIN)  # the app's guard: sign-in first, then 403 for readers and editors
