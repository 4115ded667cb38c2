"""The command line: the only layer that reads flags, prints, or maps errors to exit codes.

``app`` holds the typer application and the core commands (render, validate, plan, apply, …);
``base`` what every command shares (global options, consoles, error mapping, project loading);
``flags`` the validated option types; one module per further command group (``aws``,
``cache``, ``check``, ``demo``, ``envs``, ``export``, ``preview``, ``seed``, ``alert_tests``), each
with ``register(app)``;
``scaffold`` (``init``) and ``schema_files`` (``schema``) write a new repository's files.

May import: every other o2kit package. Nothing imports ``o2kit.cli`` except ``__main__``.
"""


def main() -> None:
    """The ``o2kit`` console script: import the command line only when it runs."""
    from o2kit.cli.app import main as run

    run()
