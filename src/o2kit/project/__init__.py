"""The repository a team edits: reading it, and turning it into desired resources.

``config`` (o2kit.yaml + env overlays), ``yamlsrc`` (bounded YAML with line numbers), ``envrefs``
(``${env:…}`` references and their escape), ``render`` (sandboxed Jinja), ``prices`` and ``quotas``
(the price and quota tables and their SQL), ``columns`` (the Bedrock stream column catalogue),
``loader`` (load + render every file into ``model.Resource`` values), ``cache`` (content-addressed
load and validate results on disk, so unchanged objects are not rendered or validated again;
what no run used for days is trimmed),
``workers`` (forked processes for the cold path), ``jsontext`` (JSON decoded as ``json.loads``
would, faster; also used by ``sync.client``).

May import: ``kinds``, ``model``, ``errors``, ``redact``. Reads files; no network, no terminal.
"""
