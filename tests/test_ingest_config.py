"""o2kit.yaml `ingest:` (pipeline, privacy, prompt_hash): defaults, errors with file and line,
and what templates see."""

from __future__ import annotations

from pathlib import Path

import pytest

from o2kit.errors import ValidationFailed
from o2kit.project.config import Config, Ingest, load_config


def test_absent_ingest_means_pipeline_off_so_old_projects_do_not_change() -> None:
    config = Config()
    assert config.ingest.pipeline is False
    assert config.ingest.context() == {"pipeline": False, "privacy": "keep", "truncate": None,
                                       "prompt_hash": False}


@pytest.mark.parametrize(("privacy", "mode", "chars"), [
    ("keep", "keep", None), ("drop", "drop", None), ({"truncate": 200}, "truncate", 200)])
def test_privacy_forms(privacy: object, mode: str, chars: int | None) -> None:
    ingest = Ingest.model_validate({"pipeline": True, "privacy": privacy})
    assert (ingest.privacy_mode, ingest.truncate_chars) == (mode, chars)


@pytest.mark.parametrize(("text", "field"), [
    ("ingest:\n  pipeline: true\n  privacy: hide\n", "ingest.privacy"),
    ("ingest:\n  pipeline: true\n  privacy: {truncate: 0}\n", "ingest.privacy"),
    ("ingest:\n  pipeline: yes please\n", "ingest.pipeline"),
    ("ingest:\n  pipeline: true\n  prompt_hashes: true\n", "ingest.prompt_hashes"),
])
def test_bad_ingest_is_an_error_naming_file_line_and_field(tmp_path: Path, text: str,
                                                           field: str) -> None:
    (tmp_path / "o2kit.yaml").write_text("org: default\n" + text)
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path)
    problems = err.value.problems
    assert problems and all(p.file == "o2kit.yaml" for p in problems)
    assert any(p.field.startswith(field) and p.line >= 2 for p in problems), problems


def test_readme_lists_every_pipeline_column() -> None:
    import re

    from o2kit.project import columns

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Ingest pipeline"):readme.index("### VRL functions offline")]
    documented = set(re.findall(r"`([a-z_0-9<>]+)`", section))
    for name in [*columns.PIPELINE_INVOCATION_LOG_COLUMNS, *columns.PIPELINE_METRIC_COLUMNS]:
        assert name in documented, name


def test_the_column_catalogue_follows_the_pipeline_switch() -> None:
    from o2kit.project import columns

    raw = columns.catalogue(Config())["bedrock_logs"]
    typed = columns.catalogue(Config(ingest=Ingest(pipeline=True)))["bedrock_logs"]
    assert raw.documents("message_modelid") and not raw.documents("latency_ms")
    assert typed.documents("latency_ms") and typed.documents("request_metadata_team")
    assert not typed.documents("message_modelid")
    assert typed.suggest("message_modelid") == "model_id"
    metrics = columns.catalogue(Config(ingest=Ingest(pipeline=True)))["bedrock_metrics"]
    assert metrics.documents("value_sum") and metrics.documents("dimensions_modelid")
    assert not metrics.documents("timestamp")  # it became _timestamp
    assert columns.column_type("latency_ms") == columns.column_type("input_tokens") == "Int64"
