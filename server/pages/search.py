"""Search pages: search (results drawn by web/static/search.js from the JSON API), one image, sign-in."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from .. import auth
from ..api import image_json, indexed_point, services

pages = Blueprint("pages", __name__)


@pages.get("/")
def search_page():
    library = services().library
    return render_template("search.html", query=request.args.get("q", ""),
                           has_images=library.recorded_identity() is not None)


@pages.get("/image/<image_id>")
def image_page(image_id: str):
    point = indexed_point(image_id)
    info = image_json(point.id, point.payload)
    facts = [("Taken", info["taken"]), ("Camera", point.payload.get("camera")),
             ("Size", f"{info['width']} × {info['height']} px" if info["width"] else None),
             ("Format", point.payload.get("format")),
             ("File size", _file_size(point.payload.get("size"))),
             ("Indexed", _utc_text(point.payload.get("indexed_at")))]
    gps = point.payload.get("gps")
    if gps:
        facts.append(("Location", f"{gps['lat']:.5f}, {gps['lon']:.5f}"))
    return render_template("image.html", image=info, facts=[(k, v) for k, v in facts if v],
                           tags=point.payload.get("tags") or [],
                           paths=point.payload.get("paths", [info["path"]]))


def _utc_text(moment: str | None) -> str | None:
    """A time pixcept recorded (ISO 8601, UTC) as people read it: 3 Dec 2026, 23:59 UTC."""
    try:
        when = datetime.fromisoformat(moment) if moment else None
    except ValueError:
        return moment
    return f"{when.day} {when:%b %Y, %H:%M} UTC" if when else None


def _file_size(size: int | None) -> str | None:
    if not size:
        return None
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} kB"


def local_path(target: str | None) -> str | None:
    r"""`target` when it is a path on this server (with its query), else None. Parsed as a URL, after stripping
    nothing: browsers drop tabs and newlines and read a backslash as a slash, so "/<tab>/evil.example" and
    "/\evil.example" lead elsewhere, and a newline would break the Location header."""
    if not target or any(ch == "\\" or (ch.isspace() and ch != " ") or not ch.isprintable() for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


@pages.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        if auth.sign_in(request.form.get("token", "").strip()):
            return redirect(local_path(request.form.get("next")) or url_for("pages.search_page"))
        error = "That token is not valid."
    # the page it was going to survives a mistyped token (a POST carries it in the form)
    going_to = local_path(request.values.get("next")) or ""
    return render_template("login.html", error=error, next=going_to), 401 if error else 200


setattr(login, "auth_level", None)  # anyone may sign in


@pages.post("/logout")
def logout():
    auth.sign_out()
    return redirect(url_for("pages.login"))
