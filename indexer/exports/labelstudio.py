"""Label Studio: a ZIP of tasks.json (one task per image, its concept and suggested tags as a prediction) and
labeling-config.xml (the labelling interface whose controls those predictions fill in), plus the manifest.

Label Studio shows images by URL: each task links to pixcept's file route with an export token that opens exactly
these images' files (read-only, expiring, revocable: `tokens.py`), so the labelling tool can fetch them and nothing
else. Import: create a project with labeling-config.xml as its labelling interface, then import tasks.json.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import quote

from . import tokens
from .archive import Archive
from .base import Contents, Export, Links, slug
from .records import Classes, Record

IMAGE, CONCEPT, TAGS = "image", "concept", "tags"  # the config's object and control names
TAGS_PER_IMAGE = 3  # suggested tags offered per image (the best ones)

README = """Open this export in Label Studio:
1. Create a project; in Settings > Labeling Interface > Code, paste labeling-config.xml.
2. Import tasks.json. The images load from pixcept through the links in the tasks (export token {token_id},
   valid until {expires}; an admin can revoke it: `pixcept export-tokens revoke {token_id}`).
"""


def labelstudio_export(contents: Contents) -> Export:
    if contents.links is None:
        raise ValueError("A Label Studio export links to pixcept: give Links (base URL, exporter, days).")
    archive = Archive(contents.library)
    present = archive.check_originals(contents.records)  # linked, not held
    token, made = tokens.create(contents.library, [r.id for r in present], contents.source.title,
                                contents.links.by, contents.links.days)
    classes = Classes.of_records(present)
    tags = sorted({tag for r in present for tag in r.tags[:TAGS_PER_IMAGE]})
    tasks = [_task(record, classes, _file_url(contents.links, record.id, token)) for record in present]
    archive.add(json.dumps(tasks, indent=1).encode(), "tasks.json")
    archive.add(labeling_config(list(classes.names.values()), tags), "labeling-config.xml")
    archive.add(README.format(token_id=made.id, expires=made.expires_at).encode(), "README.txt")
    archive.add_manifest(contents.source)
    return archive.export(f"{slug(contents.source.title)}-labelstudio.zip")


def labeling_config(classes: list[str], tags: list[str]) -> bytes:
    """The labelling interface: the image, one concept to choose (when there are concepts), tags to tick."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name=IMAGE, value=f"${IMAGE}", zoom="true")
    for name, choices, choice in ((CONCEPT, classes, "single"), (TAGS, tags, "multiple")):
        if choices:
            control = ET.SubElement(view, "Choices", name=name, toName=IMAGE, choice=choice, showInline="true")
            for value in choices:
                ET.SubElement(control, "Choice", value=value)
    if not classes and not tags:  # a control is needed: one to write the label into
        ET.SubElement(view, "TextArea", name=CONCEPT, toName=IMAGE)
    ET.indent(view)
    return ET.tostring(view, encoding="utf-8")


def _task(record: Record, classes: Classes, url: str) -> dict:
    results = []
    name = classes.of(record)
    if name is not None:
        results.append(_choices(CONCEPT, [name]))
    if record.tags:
        results.append(_choices(TAGS, record.tags[:TAGS_PER_IMAGE]))
    task: dict = {"data": {IMAGE: url, "pixcept_id": record.id, "path": record.path}}
    if results:
        prediction = {"model_version": f"pixcept concepts run {record.run}" if record.run else "pixcept",
                      "result": results}
        task["predictions"] = [prediction if record.score is None else {**prediction, "score": record.score}]
    return task


def _choices(control: str, values: list[str]) -> dict:
    return {"from_name": control, "to_name": IMAGE, "type": "choices", "value": {"choices": values}}


def _file_url(links: Links, image_id: str, token: str) -> str:
    return f"{links.base_url.rstrip('/')}/api/images/{quote(image_id)}/file?export_token={quote(token)}"
