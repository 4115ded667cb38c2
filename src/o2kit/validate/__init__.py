"""Offline checks of the desired resources before anything reaches a server.

``rules`` (shapes, grid, SQL, names, references; every problem at once, ``file:line: field``),
``sqlcheck`` (SQL parsed with sqlglot), ``schemas`` (the server's serde models as tables),

May import: ``project``, ``kinds``, ``model``, ``errors``, ``redact``. Pure: no I/O.
"""
