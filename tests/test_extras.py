"""A light install: the core commands run without the optional dependencies, the others say which
extra to install, and ``--help``/``--version`` load only what they need.

The CLI runs in a subprocess whose ``PYTHONPATH`` starts with stub packages ``datafusion``,
``pyarrow`` and ``matplotlib`` that raise ``ModuleNotFoundError`` on import, as on a machine
where ``pip install o2kit`` brought only the core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from o2kit.cli import app as cli
from o2kit.cli import base as cli_base
from o2kit.fake import DEFAULT_PASSWORD, DEFAULT_USER, FakeOpenObserve

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
HEAVY = ("datafusion", "pyarrow", "matplotlib")

# Every command and the extra it needs (None: the core install). A new command must be added here.
COMMANDS: dict[str, str | None] = {
    "render": None, "validate": None, "plan": None, "apply": None, "export": None, "aws": None,
    "schema": None, "init": None, "seed": None,
    "demo": "local", "test": "local", "check": "local", "preview": "preview",
}


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("no-extras")
    for name in HEAVY:
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n",
            encoding="utf-8")
    return root


def _env(stubs: Path | None, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("OPENOBSERVE_", "O2KIT_"))}
    path = [str(SRC), os.environ.get("PYTHONPATH", "")]
    if stubs is not None:
        path.insert(0, str(stubs))
    return {**keep, "PYTHONPATH": os.pathsep.join(p for p in path if p), "NO_COLOR": "1",
            **extra}


def _o2kit(*args: str, stubs: Path | None, cwd: Path = REPO,
           **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "o2kit", *args], cwd=cwd, env=_env(stubs, **extra),
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_command_is_assigned_an_install() -> None:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in
             cli.app.registered_commands}
    assert names == set(COMMANDS), "add the new command to COMMANDS (core or which extra)"


IMPORT_EACH = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        print("missing", name)
"""


def test_the_stubs_make_the_extras_unimportable(stubs: Path) -> None:
    """Guard for the tests below: with the stubs first on the path, the imports fail."""
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH, *HEAVY], env=_env(stubs),
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split("\n")[:-1] == [f"missing {m}" for m in HEAVY]


@pytest.mark.parametrize("command", sorted(c for c, extra in COMMANDS.items() if extra))
def test_command_without_its_extra_says_what_to_install(command: str, stubs: Path) -> None:
    extra = COMMANDS[command]
    result = _o2kit(command, stubs=stubs)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == (f"Error: o2kit {command} needs the '{extra}' extra: "
                             f"pip install 'o2kit[{extra}]'\n")
    assert "Traceback" not in result.stdout + result.stderr


PROBE = """
import sys
from o2kit.cli import app as cli
from o2kit.cli import base as cli_base

@cli.app.command(name="probe")
def probe() -> None:
    cli_base._run(lambda: __import__("o2kit.query.engine"))

sys.argv = ["o2kit", "probe"]
cli.main()
"""


def test_an_unasked_import_of_an_extra_is_reported_the_same_way(stubs: Path) -> None:
    """The safety net in ``cli_base._run``: a command that imports the engine without calling
    ``require_extra`` first still gets the one line, naming the command."""
    result = subprocess.run([sys.executable, "-c", PROBE], env=_env(stubs), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ("Error: o2kit probe needs the 'local' extra: "
                             "pip install 'o2kit[local]'\n")


def test_offline_core_commands_work_without_extras(stubs: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    made = _o2kit("init", str(project), stubs=stubs)
    assert made.returncode == 0, made.stderr
    with (project / "o2kit.yaml").open("a", encoding="utf-8") as config:
        config.write("aws: {openobserve_url: https://o2.example.com, regions: [us-east-1]}\n")
    for args in (["render", "--out", str(tmp_path / "rendered")], ["validate"],
                 ["schema", "--kind", "config"], ["aws", "--out", str(tmp_path / "aws")]):
        result = _o2kit("-C", str(project), *args, stubs=stubs)
        assert result.returncode == 0, (args, result.stderr)
    assert any((tmp_path / "rendered").rglob("*.json"))
    assert list((tmp_path / "aws").glob("*.yaml"))
    assert _o2kit("-C", str(REPO), "validate", stubs=stubs).returncode == 0


@pytest.fixture()
def server() -> Iterator[str]:
    fake = FakeOpenObserve(seed=3)
    for stream in ("bedrock_metrics", "bedrock_logs"):
        fake.add_stream("default", stream)
    with fake.serve() as running:
        yield running.url


def test_plan_and_apply_work_without_extras(stubs: Path, server: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("o2kit.yaml", "prices.yaml", "dashboards", "alerts", "templates"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            project.mkdir(exist_ok=True)
            shutil.copy(source, project / name)
    creds = {"OPENOBSERVE_URL": server, "OPENOBSERVE_USER": DEFAULT_USER,
             "OPENOBSERVE_PASSWORD": DEFAULT_PASSWORD,
             "SLACK_WEBHOOK_URL": "https://hooks.example.com/x"}
    first = _o2kit("-C", str(project), "plan", "--detailed-exitcode", stubs=stubs, **creds)
    assert first.returncode == 2, first.stderr
    applied = _o2kit("-C", str(project), "apply", "--auto-approve", stubs=stubs, **creds)
    assert applied.returncode == 0, applied.stderr
    again = _o2kit("-C", str(project), "plan", "--detailed-exitcode", stubs=stubs, **creds)
    assert again.returncode == 0, again.stdout + again.stderr


# Start-up: what ``--help`` and ``--version`` may not load (the figures: bench/bench_startup.py).
NOT_AT_STARTUP = ("rich", "pydantic", "yaml", "jinja2", "httpx", "sqlglot", *HEAVY,
                  "o2kit.project.config", "o2kit.project.loader", "o2kit.sync.client",
                  "o2kit.aws.synth", "o2kit.redact")


LOADED = """
import json, sys
from o2kit.cli import app as cli
sys.argv = ["o2kit", sys.argv[1]]
try:
    cli.main()
except SystemExit:
    pass
names = {m if m.startswith("o2kit") else m.split(".")[0] for m in sys.modules}
print(json.dumps(sorted(names)), file=sys.stderr)
"""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_load_only_the_command_line(flag: str) -> None:
    result = subprocess.run([sys.executable, "-c", LOADED, flag], env=_env(None),
                            capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert "o2kit.cli.app" in loaded  # the probe ran the CLI
    assert not loaded & set(NOT_AT_STARTUP)
    assert result.stdout.strip()


def test_extras_in_pyproject_hold_what_the_cli_asks_for() -> None:
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = meta["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        out = set()
        for req in requirements:
            name = req.split(";")[0].split("[")[0]
            for sep in "<>=!~ ":
                name = name.split(sep)[0]
            out.add(name.strip().lower())
        return out

    def closure(extra: str) -> set[str]:
        got = names(extras[extra])
        for req in extras[extra]:
            if req.startswith("o2kit["):
                for inner in req.split("[")[1].split("]")[0].split(","):
                    got |= closure(inner.strip())
        return got

    core = names(meta["dependencies"])
    assert not core & set(HEAVY), "the core install must not pull the optional engine/plots"
    # import name → distribution name where they differ
    dist = {"vrl_python": "vrl-python"}
    for extra, modules in cli_base.EXTRAS.items():
        assert {dist.get(m, m) for m in modules} <= closure(extra), extra
    assert closure("all") >= set(HEAVY)
