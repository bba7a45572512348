"""CVAT for images 1.1: a ZIP of annotations.xml and the images under images/, each image with its concept as an
image-level <tag> (CVAT's "tag" annotation; images in no concept have none), as CVAT imports a task's annotations
and as Datumaro reads it (`Dataset.import_from(path, "cvat")`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..clock import utc_now
from .archive import Archive
from .base import Contents, Export, slug
from .records import Classes

IMAGES = "images"


def cvat_export(contents: Contents) -> Export:
    classes = Classes.of_records(contents.records)
    archive = Archive(contents.library)
    names = archive.add_originals(contents.records, lambda record: IMAGES)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    _meta(root, contents.source.title, len(archive.present), classes.names.values())
    for number, record in enumerate(archive.present):
        image = ET.SubElement(root, "image", id=str(number), name=names[record.id].removeprefix(f"{IMAGES}/"),
                              width=str(record.width or 0), height=str(record.height or 0))
        name = classes.of(record)
        if name is not None:
            ET.SubElement(image, "tag", label=name, source="auto")
    ET.indent(root)
    archive.add(ET.tostring(root, encoding="utf-8", xml_declaration=True), "annotations.xml")
    archive.add_manifest(contents.source)
    return archive.export(f"{slug(contents.source.title)}-cvat.zip")


def _meta(root: ET.Element, title: str, size: int, labels) -> None:
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for key, value in (("name", title), ("size", str(size)), ("mode", "annotation"), ("overlap", "0"),
                       ("start_frame", "0"), ("stop_frame", str(max(size - 1, 0))), ("created", utc_now())):
        ET.SubElement(task, key).text = value
    declared = ET.SubElement(task, "labels")
    for name in labels:
        label = ET.SubElement(declared, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "type").text = "tag"
        ET.SubElement(label, "attributes")
