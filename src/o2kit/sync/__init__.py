"""Talking to OpenObserve and deciding what to change: the plan/apply loop.

``client`` (the only module importing httpx: bounded requests, retries, error mapping),
``remote`` (fetch live state, apply a plan), ``diff`` and ``plan`` (pure: field-level changes,
ownership, the plan value and its checksum), ``report`` (text, Markdown and JSON of a plan),
``export`` (server objects → repository files).

May import: ``project``, ``kinds``, ``model``, ``errors``, ``redact``.
"""
