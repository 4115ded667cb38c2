"""The account's Bedrock quotas (``o2kit.yaml`` ``quotas:``): which row applies to a model id
and region, in Python (:func:`quota_for`) and in OpenObserve SQL (:func:`sql_quota_case`), tested
to agree.

Matching follows prices.yaml (``o2kit.project.prices``): a row's ``match`` is a prefix of the model
id —
``arn:…`` rows of the raw id, geo rows (``us.…``, ``global.…``) of the id without an ARN prefix,
other rows of the base id (so they also cover every geo profile of it). AWS keeps separate
quotas for cross-Region inference profiles and for on-demand calls in one Region; a geo row
states the former. Among matching rows: the most specific model match first (ARN, then the
longest base part, then geo-specific), then a row naming the region over one for every region.
Only rows that give the asked-for number (``tpm`` or ``rpm``) take part, so a row with only an
``rpm`` leaves the ``tpm`` to a broader row. No row: no quota (``None`` / SQL ``NULL``).

Pure: no files, no environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from o2kit.project.config import QuotaRow
from o2kit.project.prices import sql_model_columns, strip_geo
from o2kit.project.render import mark_params, require_sql_fragment, sql_list, sql_num, sql_str

Field = Literal["tpm", "rpm"]


def _kind(row: QuotaRow) -> str:
    if row.match.startswith("arn:"):
        return "arn"
    return "geo" if strip_geo(row.match)[0] is not None else "base"


def _specificity(row: QuotaRow) -> tuple[int, int, int, int]:
    """Bigger wins: ARN rows, the longer base-id part, geo-specific rows, region-specific rows."""
    regional = 1 if row.regions else 0
    if _kind(row) == "arn":
        return (1, len(row.match), 0, regional)
    return (0, len(strip_geo(row.match)[1]), 1 if _kind(row) == "geo" else 0, regional)


def sql_order(rows: Sequence[QuotaRow]) -> list[QuotaRow]:
    """Rows most specific first: the order of the ``WHEN``s."""
    return sorted(rows, key=lambda r: (tuple(-k for k in _specificity(r)), r.match,
                                       tuple(r.regions)))


def _matches(row: QuotaRow, model_id: str, region: str) -> bool:
    noarn = model_id.rsplit("/", 1)[-1]
    text = {"arn": model_id, "geo": noarn, "base": strip_geo(noarn)[1]}[_kind(row)]
    return text.startswith(row.match) and (not row.regions or region in row.regions)


def quota_for(rows: Sequence[QuotaRow], model_id: str, region: str, field: Field) -> int | None:
    """The ``field`` quota that applies to ``model_id`` in ``region``, or None."""
    for row in sql_order(rows):
        value = getattr(row, field)
        if value is not None and _matches(row, model_id, region):
            return int(value)
    return None


def sql_quota_case(
    rows: Sequence[QuotaRow],
    field: Field,
    *,
    model: str = "model_id",
    noarn: str = "model_noarn",
    base: str = "model_base",
    region: str = "region",
    indent: int = 0,
) -> str:
    """``CASE WHEN <row matches> THEN <quota> … ELSE NULL END`` as a DOUBLE; the normalised
    model columns come from ``prices.model_columns``."""
    column = {"arn": model, "geo": noarn, "base": base}
    pad = " " * indent
    whens = []
    for row in sql_order(rows):
        value = getattr(row, field)
        if value is None:
            continue
        test = f"starts_with({column[_kind(row)]}, {sql_str(row.match)})"
        if row.regions:
            test += f" AND {region} IN ({sql_list(row.regions)})"
        whens.append(f"{pad}  WHEN {test} THEN {sql_num(float(value))}")
    if not whens:
        return "CAST(NULL AS DOUBLE)"
    return "\n".join(["CASE", *whens, f"{pad}  ELSE NULL", f"{pad}END"])


class TemplateQuotas:
    """What templates see as ``quotas``: SQL generators and a Markdown table. The generators
    paste column names, so they accept only SQL written in the template."""

    def __init__(self, rows: Sequence[QuotaRow]) -> None:
        self._rows = list(rows)
        self.rows = len(self._rows)
        self.has_tpm = any(r.tpm is not None for r in self._rows)
        self.has_rpm = any(r.rpm is not None for r in self._rows)
        self._regions = sorted({g for r in self._rows for g in r.regions})

    @property
    def regions(self) -> list[str]:
        """A new list each time: one object serves every render of a project."""
        return mark_params(self._regions)  # type: ignore[no-any-return]

    def model_columns(self, model: str = "model_id") -> str:
        return sql_model_columns(require_sql_fragment(model, "quotas.model_columns"))

    def _case(self, field: Field, names: Mapping[str, Any]) -> str:
        columns: dict[str, Any] = {}
        for key, value in names.items():
            if key == "indent":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("indent must be a non-negative integer")
                columns[key] = value
            elif key in ("model", "noarn", "base", "region"):
                columns[key] = require_sql_fragment(value, f"quotas: {key}")
            else:
                raise TypeError(f"quotas: unexpected argument {key!r}")
        return sql_quota_case(self._rows, field, **columns)

    def tpm_case(self, **columns: Any) -> str:
        return self._case("tpm", columns)

    def rpm_case(self, **columns: Any) -> str:
        return self._case("rpm", columns)

    def table_markdown(self) -> str:
        lines = [
            "**Quotas** from `o2kit.yaml` `quotas:` (Service Quotas, Amazon Bedrock), most "
            "specific first. A geo-prefixed match (`us.…`) is the cross-Region inference quota; "
            "a base id also covers its geo profiles unless a geo row says otherwise.",
            "",
            "| match | regions | TPM | RPM |",
            "|---|---|---|---|",
        ]
        for row in sql_order(self._rows):
            lines.append(
                f"| `{row.match}` | {', '.join(row.regions) or 'all'} | "
                f"{row.tpm if row.tpm is not None else '—'} | "
                f"{row.rpm if row.rpm is not None else '—'} |"
            )
        if not self._rows:
            lines = ["**No quotas configured.** Add `quotas:` to `o2kit.yaml` (TPM and RPM per "
                     "model-id prefix and region, from Service Quotas) to see usage as a share of "
                     "them and to arm the quota headroom alert."]
        return "\n".join(lines)
