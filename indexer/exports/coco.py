"""COCO with image-level labels: a ZIP of annotations/labels_default.json (categories = the concepts, one label
annotation per image in a concept, with the search score where the export is a search's) and the images under
images/default/, the layout Datumaro reads as COCO (`Dataset.import_from(path, "coco")`, its "labels" task)."""

from __future__ import annotations

import json

from ..clock import utc_now
from .archive import Archive
from .base import Contents, Export, slug
from .records import Classes

IMAGES = "images/default"


def coco_export(contents: Contents) -> Export:
    classes = Classes.of_records(contents.records)
    category = {name: number for number, name in enumerate(classes.names.values(), start=1)}
    archive = Archive(contents.library)
    names = archive.add_originals(contents.records, lambda record: IMAGES)
    images: list[dict] = []
    annotations: list[dict] = []
    for number, record in enumerate(archive.present, start=1):
        images.append({"id": number, "file_name": names[record.id].removeprefix(f"{IMAGES}/"),
                       "width": record.width or 0, "height": record.height or 0,
                       "date_captured": record.taken_at or ""})
        name = classes.of(record)
        if name is not None:
            label = {"id": len(annotations) + 1, "image_id": number, "category_id": category[name]}
            annotations.append(label if record.score is None else {**label, "score": record.score})
    document = {"info": {"description": contents.source.title, "date_created": utc_now(), "version": "1.0",
                         "contributor": "pixcept", "url": "", "year": int(utc_now()[:4])},
                "licenses": [], "images": images, "annotations": annotations,
                "categories": [{"id": number, "name": name, "supercategory": ""} for name, number in category.items()]}
    archive.add(json.dumps(document, indent=1).encode(), "annotations/labels_default.json")
    archive.add_manifest(contents.source)
    return archive.export(f"{slug(contents.source.title)}-coco.zip")
