"""Open an export the way its users' tools open it, and print what they found as JSON (run by the tests in the
validators' own environment, .venv-validators, whose pins clash with pixcept's: Datumaro wants numpy < 2.3).

    open_export.py cvat|coco FOLDER    Datumaro imports the unpacked archive: items, labels, each item's labels
    open_export.py labelstudio FOLDER  the Label Studio SDK parses labeling-config.xml and validates every task of
                                       tasks.json and every prediction against it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def datumaro_summary(folder: Path, fmt: str) -> dict:
    import datumaro as dm

    found = dm.Dataset.import_from(str(folder), fmt)
    names = [label.name for label in found.categories()[dm.AnnotationType.label]]
    items = {}
    for item in found:
        image = item.media
        items[item.id] = {"labels": [names[a.label] for a in item.annotations if a.type == dm.AnnotationType.label],
                          "image": image.path if image is not None else None,
                          "has_data": bool(image is not None and image.has_data),
                          "size": list(image.size) if image is not None and image.has_size else None}
    return {"labels": names, "items": items}


def labelstudio_summary(folder: Path) -> dict:
    from label_studio_sdk.label_interface import LabelInterface

    config = (folder / "labeling-config.xml").read_text()
    interface = LabelInterface(config)
    tasks = json.loads((folder / "tasks.json").read_text())
    errors = []
    for number, task in enumerate(tasks):
        if not interface.validate_task({"data": task["data"]}):  # its own check of predictions is broken (2.1.2)
            errors.append(f"task {number}: does not fit the config")
        for prediction in task.get("predictions", []):
            errors += [f"task {number}: {e}" for e in interface.validate_prediction(prediction, return_errors=True)]
    controls = {name: sorted(getattr(control, "labels", []) or []) for name, control in interface._controls.items()}
    return {"tasks": len(tasks), "errors": errors, "controls": controls,
            "urls": [task["data"]["image"] for task in tasks]}


def main() -> None:
    fmt, folder = sys.argv[1], Path(sys.argv[2])
    summary = labelstudio_summary(folder) if fmt == "labelstudio" else datumaro_summary(folder, fmt)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
