"""Multi-region with the region column: o2kit.yaml `regions` are AWS region codes, they become the
region variable's choices, and every panel of the shipped dashboard follows the region variable
(metric rows by `region`, invocation-log rows by `message_region`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_render_golden import applogs_project, shipped_project

from o2kit.errors import ValidationFailed
from o2kit.project.config import Config
from o2kit.project.loader import load_project


@pytest.mark.parametrize("regions", [["us-east"], ["US-EAST-1"], ["eu-west-1", "eu-west-1"]])
def test_regions_must_be_aws_region_codes(regions: list[str]) -> None:
    with pytest.raises(ValueError, match="region"):
        Config.model_validate({"regions": regions})


def test_a_misspelt_region_in_o2kit_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    root = shipped_project(tmp_path / "p")
    config = root / "o2kit.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "regions: []", "regions: [us-east-1, eu-wset1]"), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_project(root)
    assert "o2kit.yaml" in str(info.value) and "eu-wset1" in str(info.value)


def _stream_reads(sql: str) -> int:
    return len(re.findall(r'FROM "bedrock_(?:metrics|logs)"', sql))


@pytest.mark.parametrize("build", [shipped_project, applogs_project])
def test_every_stream_read_of_every_panel_follows_the_region_variable(
    build, tmp_path: Path  # noqa: ANN001
) -> None:
    resources = load_project(build(tmp_path / "p")).resources
    body = next(r.body for r in resources if r.kind == "dashboard")
    checked = 0
    for tab in body["tabs"]:
        for panel in tab["panels"]:
            for query in panel["queries"]:
                sql = query["query"]
                reads = _stream_reads(sql)
                if panel["id"].startswith("budgets-"):
                    # a budget counts every call in its scope, in every region
                    assert "$" not in sql, panel["title"]
                    continue
                filters = sql.count("region IN ($region)")
                # cost tables read the logs once; unions read each stream once per branch
                assert filters >= reads, (panel["title"], reads, filters)
                checked += reads > 0
    assert checked > 30
    variable = next(v for v in body["variables"]["list"] if v["name"] == "region")
    if build is applogs_project:  # o2kit.yaml lists the regions: fixed choices
        assert [o["value"] for o in variable["options"]] == ["us-east-1", "eu-west-1"]
    else:  # the regions found in the metric stream
        assert variable["query_data"] == {"stream_type": "logs", "stream": "bedrock_metrics",
                                          "field": "region", "max_record_size": None}
