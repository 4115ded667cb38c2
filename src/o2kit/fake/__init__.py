"""A fake OpenObserve for tests, benchmarks and the local demo.

An in-memory implementation of the management API o2kit uses (folders, dashboards, alerts,
destinations, templates, streams), whose behaviour is taken from the OpenObserve source and the
reference — never from o2kit's own tables, so that tests of o2kit's normalisation are honest.
Mount it into a real ``httpx.Client`` with :meth:`FakeOpenObserve.transport`, or serve it on a
loopback port with :meth:`FakeOpenObserve.serve`. :class:`Faults` adds latency, 429/5xx answers,
dropped connections and lost responses, reproducibly from a seed.

    fake = FakeOpenObserve(seed=1)
    fake.add_stream("default", "app_logs", fields={"_timestamp": "Int64", "level": "Utf8"})
    with httpx.Client(base_url="http://o2", transport=fake.transport(),
                      auth=("root@example.com", "Complexpass#123")) as http:
        http.post("/api/default/dashboards", json={...})

May import: nothing of o2kit — it behaves like the OpenObserve source, not like o2kit's
tables (``tests/test_architecture.py``).
"""

from .app import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve, RequestRecord
from .faults import Faults

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USER", "FakeOpenObserve", "Faults", "RequestRecord"]
