"""The default newest-first sort is not added over a grouped subquery (the server's column
visitor sees the inner GROUP BY), so such queries do not fail for want of ``_timestamp``."""

from __future__ import annotations

import httpx

from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve
from o2kit.query.engine import QueryEngine


def test_outer_filter_over_grouped_subquery_runs() -> None:
    fake = FakeOpenObserve(query_engine_factory=QueryEngine)
    fake.add_stream("default", "s", fields={"_timestamp": "Int64", "k": "Utf8", "n": "Int64"})
    http = httpx.Client(base_url="http://o2", transport=fake.transport(),
                        auth=(DEFAULT_USER, DEFAULT_PASSWORD))
    sql = 'SELECT k, total FROM (SELECT k, SUM(n) AS total FROM "s" GROUP BY k) g WHERE total > 1'
    r = http.post("/api/default/_search",
                  json={"query": {"sql": sql, "start_time": 0, "end_time": 10**16}})
    assert r.status_code == 200, r.text
    assert r.json()["hits"] == []
