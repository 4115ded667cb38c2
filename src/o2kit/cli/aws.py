"""``o2kit aws``: write the AWS side (CloudFormation, one template per region) from o2kit.yaml.

The command is a thin edge over ``o2kit.aws.cfn`` (pure): read the config, build, write files, say
how to deploy each one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

COMMAND = "aws"


def aws(
    region: Annotated[
        list[str] | None,
        typer.Option(
            "--region", "-r", metavar="REGION",
            help="AWS region to generate for; repeat for several. Default: aws.regions.",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the templates.")
    ] = Path("build/aws"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Template format: yaml or json.")
    ] = "yaml",
) -> None:
    """Write the CloudFormation template(s) that send Bedrock logs and metrics to OpenObserve.

    One file per region: Bedrock invocation logging, the log group and its subscription filter,
    one Firehose stream per OpenObserve stream, the AWS/Bedrock metric stream and least-privilege
    IAM roles. The Firehose access key is a deploy-time parameter or a Secrets Manager secret.

    Example: o2kit aws --region us-east-1 --region eu-west-1 --out build/aws
    """
    from o2kit.cli import base

    def body() -> None:
        from o2kit.aws import cfn as awscfn
        from o2kit.errors import ConfigError
        from o2kit.project.config import check_aws_regions, load_config

        if fmt not in ("yaml", "json"):
            raise ConfigError(f"--format {fmt!r}: use yaml or json")
        text_format: awscfn.Format = "json" if fmt == "json" else "yaml"
        loaded = load_config(base._state.project, base._state.env)
        config = loaded.config
        regions = list(region or awscfn.default_regions(config))
        if not regions:
            raise ConfigError(
                "no region to generate for",
                remedy="pass --region us-east-1 (repeatable) or set aws.regions in o2kit.yaml",
            )
        try:
            check_aws_regions(regions)
        except ValueError as exc:
            raise ConfigError(f"--region: {exc}") from None
        # Build every template first, so a problem writes nothing.
        texts = {
            r: awscfn.dump_template(awscfn.build_template(config, r), text_format)
            for r in regions
        }
        target = out_dir if out_dir.is_absolute() else base._state.project / out_dir
        target.mkdir(parents=True, exist_ok=True)
        for r, text in texts.items():
            path = target / awscfn.template_filename(r, text_format)
            path.write_text(text, encoding="utf-8")
            base._say(f"Wrote {path}")
        base._say("Deploy (one command per region):")
        for r in regions:
            path = target / awscfn.template_filename(r, text_format)
            base._say(f"  {awscfn.deploy_command(config, r, str(path))}")

    base._run(body)


def register(app: typer.Typer) -> None:
    """Add ``o2kit aws`` to the command line (once)."""
    if not any(c.name == COMMAND for c in app.registered_commands):
        app.command(name=COMMAND)(aws)
