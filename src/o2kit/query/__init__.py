"""Running OpenObserve SQL: the local engine and what is built on it.

``engine`` + ``udfs`` (Apache DataFusion with OpenObserve's functions), ``alerttest``
(``o2kit test``), ``check`` (every panel and alert query on synthetic or live data), ``preview``
(dashboards drawn as pictures). Needs the ``local`` extra (``preview`` also ``preview``).

May import: ``project``, ``validate``, ``aws``, ``fake``, ``model``, ``errors``, ``redact``.
"""
