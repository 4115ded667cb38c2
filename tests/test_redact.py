"""The redaction layer on plain values: typed secrets, the registry and its encoded forms, URL
passwords, terminal cleaning, Markdown escaping, the stream wrapper, log records, plan fields."""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle

import pytest

from o2kit import redact
from o2kit.model import MISSING, Change, FieldChange, Plan
from o2kit.redact import MASK, Secret
from o2kit.sync import plan as planmod


@pytest.fixture(autouse=True)
def _empty_registry() -> None:
    redact.clear_registry()


def test_a_secret_never_formats_as_its_value() -> None:
    secret = Secret("S3NT1NEL-typed-value")
    shown = [str(secret), repr(secret), f"{secret}", f"{secret:>30}", "".join([str(secret)]),
             json.dumps({"x": secret}, default=redact.json_default)]
    assert all("S3NT1NEL" not in s for s in shown), shown
    with pytest.raises(TypeError):
        json.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret.get_secret_value() == "S3NT1NEL-typed-value"
    assert secret == Secret("S3NT1NEL-typed-value") and secret != "S3NT1NEL-typed-value"
    # Made, it is registered: the raw value is masked wherever it is printed.
    assert redact.redact("it was S3NT1NEL-typed-value") == f"it was {MASK}"


def test_registered_values_are_masked_in_their_encoded_forms() -> None:
    value = "S3NT1NEL/pa ss+wörd\"x"
    redact.register(value)
    texts = [value, "https://h/?k=S3NT1NEL%2Fpa%20ss%2Bw%C3%B6rd%22x",
             "k=S3NT1NEL%2Fpa+ss%2Bw%C3%B6rd%22x", json.dumps({"k": value}),
             json.dumps({"k": value}, ensure_ascii=False)]
    for text in texts:
        assert "S3NT1NEL" not in redact.redact(text), text


def test_credentials_mask_the_basic_authorization_value() -> None:
    redact.register_credentials("ci@example.com", Secret("S3NT1NEL-pw"))
    header = base64.b64encode(b"ci@example.com:S3NT1NEL-pw").decode()
    assert header not in redact.redact(f"echo: authorization={header}")
    assert "S3NT1NEL" not in redact.redact("password S3NT1NEL-pw")


def test_short_values_are_not_registered() -> None:
    redact.register("abc12")
    assert redact.redact("abc12 stays") == "abc12 stays"
    assert not redact.is_registered("abc12")
    redact.register("abc123")
    assert redact.redact("abc123 goes") == f"{MASK} goes"


def test_url_passwords_and_authorization_values_are_masked_unregistered() -> None:
    assert redact.redact("see https://bob:hunter2@example.com/x") == (
        f"see https://bob:{MASK}@example.com/x")
    assert redact.redact("ftp://u:p@h and https://user@h") == f"ftp://u:{MASK}@h and https://user@h"
    assert redact.redact('"Authorization": "Bearer abc.def-ghi"') == (
        f'"Authorization": "Bearer {MASK}"')
    assert redact.redact("authorization: Basic dXNlcjpwdw==") == f"authorization: Basic {MASK}"


def test_longer_secrets_are_masked_whole_before_shorter_ones() -> None:
    redact.register("S3NT1NEL")
    redact.register("S3NT1NEL-and-more")
    assert redact.redact("S3NT1NEL-and-more S3NT1NEL") == f"{MASK} {MASK}"


@pytest.mark.parametrize("hostile", [
    "\x1b]0;title\x07", "\x1b]8;;https://e\x1b\\", "\x1b[2J", "\x1b[31m", "\x9b31m",
    "\x1bP1$q\x1b\\", "\x07", "\x08", "\x00", "\x7f", "\x85", "\u202e", "\u2066", "\x1bc",
])
def test_clean_text_removes_escape_sequences_and_controls(hostile: str) -> None:
    assert redact.clean_text(f"a{hostile}b\tc\nd") == "ab\tc\nd"
    expected = "a b c d" if hostile == "\x85" else "ab c d"  # NEL is a line break
    assert redact.clean_line(f"a{hostile}b\tc\nd") == expected


def test_stream_keeps_only_its_own_colours_on_a_terminal() -> None:
    color = [True]
    sink = io.StringIO()
    stream = redact.SafeStream(sink, lambda: color[0])  # type: ignore[arg-type]
    redact.register("S3NT1NEL-stream")
    stream.write("\x1b[32mok\x1b[0m \x1b[2J\x1b]0;t\x07 S3NT1NEL-stream\r\x1b[2K\n")
    color[0] = False
    stream.write("\x1b[32mplain\x1b[0m\n")
    assert sink.getvalue() == f"\x1b[32mok\x1b[0m  {MASK}\r\x1b[2K\nplain\n"
    with pytest.raises(TypeError):
        stream.write(b"bytes")  # type: ignore[arg-type]
    assert not hasattr(stream, "buffer")


def test_log_records_are_masked_for_every_handler(caplog: pytest.LogCaptureFixture) -> None:
    redact.install_logging_redaction()
    redact.register("S3NT1NEL-logged")
    handler_out = io.StringIO()
    handler = logging.StreamHandler(handler_out)
    redact.install_logging_redaction([handler])
    log = logging.getLogger("o2kit.test_redact")
    log.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            try:
                raise ValueError("boom S3NT1NEL-logged")
            except ValueError:
                log.exception("failed with %s", "S3NT1NEL-logged")
    finally:
        log.removeHandler(handler)
    assert caplog.records and all("S3NT1NEL" not in r.getMessage() for r in caplog.records)
    assert "S3NT1NEL" not in handler_out.getvalue() and "boom" in handler_out.getvalue()


def test_md_text_neutralises_html_and_markdown() -> None:
    text = "a|b </details> <!-- o2kit-plan --> [x](y) **b** `c` _d_ # e\nf & g"
    out = redact.md_text(text)
    assert "<" not in out and ">" not in out and "\n" not in out
    for raw in ("|", "[", "]", "*", "`", "_", "#"):
        assert out.count(raw) == out.count("\\" + raw), (raw, out)
    assert "&amp;" in out


def test_mark_sensitive_by_reference_path_and_by_value() -> None:
    redact.register("S3NT1NEL-token-new")
    fields = (
        FieldChange("body", "old text tok-old", "new text S3NT1NEL-token-new"),
        FieldChange("headers", MISSING, {"X-Key": "x"}),
        FieldChange("title", "a", "b"),
        FieldChange("url", "https://u:pw@h/x", "https://h/x"),
    )
    plan = Plan(changes=(Change("update", "template", ("t",), fields=fields),
                         Change("update", "destination", ("d",), fields=fields)))
    marked = planmod.mark_sensitive(plan, {("destination", ("d",)): [("headers", "X-Key")]})
    template, destination = ([f.secret for f in c.fields] for c in marked.changes)
    assert template == [True, False, False, True]  # by value: a registered secret, a URL password
    assert destination == [True, True, False, True]  # and by the path the code wrote ${env:} at
