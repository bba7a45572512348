"""The one settings table: flags, environment and defaults in one order, one message for a bad value wherever it came
from, every variable documented, and no other module reading the environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.config import SAVED_FILE, SETTINGS, Settings, load_settings, runtime_settings, save_settings
from indexer.errors import UsageError
from indexer.jobs import check_params

from conftest import ROOT


def test_a_flag_beats_the_environment_which_beats_the_default(tmp_path):
    environ = {"PIXCEPT_DATA_DIR": str(tmp_path / "from-env"), "PIXCEPT_CLUSTER_EVERY": "off",
               "PIXCEPT_THREADS": "4", "QDRANT_URL": "", "PIXCEPT_MODEL": "  "}
    sources: dict[str, str] = {}
    settings = load_settings({"data_dir": tmp_path / "from-flag", "server__threads": None}, environ, sources)
    assert settings.data_dir == tmp_path / "from-flag" and sources["data_dir"] == "flag"
    assert settings.server.threads == 4 and sources["server.threads"] == "environment"
    assert settings.schedule.cluster_every is None  # "off"
    assert settings.qdrant_url is None and settings.model is None  # blank variables are unset
    assert settings.server.port == 8000 and "server.port" not in sources
    assert load_settings({}, {"PIXCEPT_CLUSTER_CHANGED": "10%"}).schedule.cluster_changed == pytest.approx(0.1)


def test_settings_built_in_code_never_read_the_environment(monkeypatch):
    monkeypatch.setenv("PIXCEPT_MODEL", "ViT-B-32:openai")
    monkeypatch.setenv("PIXCEPT_WORKER_IDLE_SECONDS", "5")
    assert Settings().model is None and Settings().worker_idle_seconds == 300


@pytest.mark.parametrize("variable, flag, text, message", [
    ("PIXCEPT_SESSION_LIFETIME", "--session-lifetime", "soon", "must be a duration like 30m, 6h or 1d"),
    ("PIXCEPT_PORT", "--port", "80000", "must be a whole number from 1 to 65535"),
    ("PIXCEPT_STORE", "--store", "sqlite", "must be one of edge, local"),
])
def test_a_bad_value_says_the_same_from_a_flag_and_from_the_environment(variable, flag, text, message):
    runner = CliRunner()
    from_flag = runner.invoke(cli, ["settings", flag, text])
    from_env = runner.invoke(cli, ["settings"], env={variable: text})
    for result in (from_flag, from_env):
        assert result.exit_code == 2 and f"{flag} ({variable}) {message}, not '{text}'" in result.output, \
            result.output
    with pytest.raises(UsageError, match=re.escape(f"{flag} ({variable}) {message}")):
        load_settings({}, {variable: text})


def test_pixcept_settings_lists_every_setting_and_hides_secrets(tmp_path):
    result = CliRunner().invoke(cli, ["settings", "--json", "--data-dir", str(tmp_path)],
                                env={"PIXCEPT_READ_TOKEN": "very-secret-token", "PIXCEPT_MAX_ASPECT": "20"})
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == {setting.name for setting in SETTINGS}
    assert rows["data_dir"] == {**rows["data_dir"], "value": str(tmp_path), "source": "flag"}
    assert rows["limits.max_aspect"]["value"] == 20 and rows["limits.max_aspect"]["source"] == "environment"
    assert rows["server.read_token"]["value"] == "(set)" and "very-secret-token" not in result.output
    assert rows["server.port"]["source"] == "default"


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [setting.variable for setting in SETTINGS if setting.variable not in readme]
    assert not missing, f"README does not mention {missing}"


# Reading the environment for something other than a pixcept setting: the platform's data folder, library knobs set
# before the libraries load, a child's environment, whether a proxy is set (for the download advice).
ENVIRONMENT_READERS = {"indexer/config.py", "indexer/__init__.py", "indexer/concepts/algorithm.py",
                       "indexer/demo/measure.py", "indexer/embed.py"}


def test_only_the_settings_module_reads_pixcept_settings_from_the_environment():
    readers = set()
    for path in [*ROOT.glob("indexer/**/*.py"), *ROOT.glob("server/**/*.py")]:
        if re.search(r"os\.environ|os\.getenv|envvar=", path.read_text()):
            readers.add(str(path.relative_to(ROOT)))
    assert readers <= ENVIRONMENT_READERS, sorted(readers - ENVIRONMENT_READERS)
    for path in ENVIRONMENT_READERS - {"indexer/config.py"}:
        assert not re.search(r"environ[^\n]*PIXCEPT_(?!TEST)", (ROOT / path).read_text()), path


def test_a_job_is_checked_by_its_kind_schema_wherever_it_runs(settings, tmp_path):
    """The runner (the CLI without a server, the server's queue) loads a job's parameters by the same schema as the
    API (test_server: 400 naming the parameter)."""
    with pytest.raises(UsageError, match="`?seed`?: Not a valid integer"):
        check_params("cluster", {"seed": "seven"}, settings)
    with pytest.raises(UsageError, match="prunne: Unknown field"):
        check_params("index", {"folders": [str(tmp_path)], "prunne": True}, settings)
    (tmp_path / "photos").mkdir()
    checked = check_params("index", {"folders": [str(tmp_path / "photos")], "workers": None}, settings)
    assert checked == {"folders": [str((tmp_path / "photos").resolve())], "prune": False, "reindex": False,
                       "force": False}
    assert check_params("cluster", {"relabel": True, "seed": 3}, settings) == {"relabel": True, "seed": 3}
    assert Path(checked["folders"][0]).is_absolute()


def test_settings_saved_on_the_admin_page_sit_between_the_environment_and_the_defaults(tmp_path):
    saved = save_settings(tmp_path, {"schedule.cluster_every": "6h", "schedule.index_every": "30m",
                                     "limits.max_aspect": "20"})
    assert saved == {"schedule.cluster_every": 21600.0, "schedule.index_every": 1800.0, "limits.max_aspect": 20.0}
    sources: dict[str, str] = {}
    settings = load_settings({"data_dir": tmp_path}, {"PIXCEPT_MAX_ASPECT": "10"}, sources)
    assert settings.schedule.cluster_every == 21600 and sources["schedule.cluster_every"] == "saved"
    assert settings.schedule.index_every == 1800 and settings.limits.max_aspect == 10  # the environment wins
    assert sources["limits.max_aspect"] == "environment"
    rows = {row["name"]: row for row in runtime_settings(settings, {"PIXCEPT_MAX_ASPECT": "10"})}
    assert rows["schedule.cluster_every"] == {**rows["schedule.cluster_every"], "value": "6h", "source": "saved",
                                              "editable": True}
    assert (rows["limits.max_aspect"]["source"], rows["limits.max_aspect"]["editable"]) == ("environment", False)
    assert rows["worker_idle_seconds"]["source"] == "default"
    save_settings(tmp_path, {"schedule.cluster_every": " "})  # blank: back to the default
    assert load_settings({"data_dir": tmp_path}, {}).schedule.cluster_every == Settings().schedule.cluster_every
    with pytest.raises(UsageError, match="Not a setting a running server can change: server.port"):
        save_settings(tmp_path, {"server.port": "80"})
    with pytest.raises(UsageError, match="a duration like 30m"):
        save_settings(tmp_path, {"schedule.index_every": "soon", "limits.max_aspect": "30"})
    assert load_settings({"data_dir": tmp_path}, {}).limits.max_aspect == 20  # nothing saved of a refused change
    (tmp_path / SAVED_FILE).write_text("{not json")
    with pytest.raises(UsageError, match="cannot be read"):
        load_settings({"data_dir": tmp_path}, {})
