"""Secrets and untrusted text on their way out: one redaction layer for every output path.

Three tools, used together (like pydantic's ``SecretStr`` plus GitHub's ``::add-mask::``):

``Secret``
    A value whose ``str``/``repr``/``format`` is ``***`` and that ``json.dumps`` refuses (with
    ``default=json_default`` it encodes as ``"***"``). Code that needs the value asks for it with
    ``get_secret_value()`` — only the HTTP edge (``o2kit.sync.client``) does. Credentials in use
    (the
    password, the Basic ``Authorization`` value, the Firehose access key) are held as ``Secret``.

The registry and ``redact``
    A process-wide set of secret texts: every credential and every value resolved from
    ``${env:NAME}`` is registered (``register``), with the forms it takes on the way out — its
    URL-encoded (``quote``/``quote_plus``) and JSON-escaped spellings, and for a user and
    password the base64 of ``user:password`` that a Basic ``Authorization`` header carries.
    ``redact(text)`` replaces each of them by ``***`` wherever it appears (inside an error body a
    server echoed, inside a URL, inside a longer string), masks the password of any URL
    (``https://user:pw@host`` → ``https://user:***@host``) and the value of any
    ``Authorization: Basic|Bearer …`` it sees. Values shorter than ``MIN_SECRET_LENGTH``
    (6 characters) are not registered: masking every ``abc`` in a plan would garble it and
    tell a reader the secret anyway.

    The CLI sends everything through ``redact``: it wraps ``sys.stdout``/``sys.stderr`` in a
    ``SafeStream`` (the last-line mask: a new code path that forgets is still masked), installs
    ``RedactFilter`` on the logging handlers and a log-record factory whose ``getMessage`` is
    redacted (so every handler, ours or a test's, sees masked records), and formats a
    ``--debug`` traceback before redacting it.

Terminal and markdown safety
    ``clean_text`` removes ANSI/VT escape sequences, C0/C1 control characters (``\\n`` and
    ``\\t`` kept) and the Unicode bidirectional overrides from text a server or a title supplied;
    ``clean_line`` also folds line breaks into spaces (for one-line places: addresses, table
    cells). ``SafeStream`` does the same to the whole stream, keeping only CSI sequences (colours,
    the progress bar) when the CLI itself colours its output.

No I/O here: streams are passed in.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 6


class Secret:
    """A secret string that cannot be formatted into text by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError("a Secret holds a string")
        self._value = value
        register(value)

    def get_secret_value(self) -> str:
        """The value itself: for the HTTP edge only."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("o2kit.Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled")


def reveal(value: str | Secret) -> str:
    """The raw text of a ``Secret`` (a plain string is returned as it is)."""
    return value.get_secret_value() if isinstance(value, Secret) else value


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: a ``Secret`` encodes as ``"***"``."""
    if isinstance(value, Secret):
        return MASK
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# ---------------------------------------------------------------------------------------------
# the registry


class _Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, forms: Iterable[str]) -> None:
        new = {f for f in forms if len(f) >= MIN_SECRET_LENGTH} - self._values
        if not new:
            return
        with self._lock:
            self._values |= new
            # Longest first, so a value is masked whole before a shorter one inside it.
            ordered = sorted(self._values, key=lambda v: (-len(v), v))
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def clear(self) -> None:
        with self._lock:
            self._values = set()
            self._pattern = None

    def __contains__(self, value: str) -> bool:
        return value in self._values


_REGISTRY = _Registry()


def _forms(value: str) -> list[str]:
    """The spellings a secret takes in URLs, JSON and form bodies."""
    return [value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1]]


def register(value: str | Secret | None) -> None:
    """Mask ``value`` (and its encoded forms) in every output from now on. Short values
    (under ``MIN_SECRET_LENGTH``) and ``None`` are ignored."""
    if value is None:
        return
    _REGISTRY.add(_forms(reveal(value)))


def register_credentials(user: str, password: str | Secret) -> None:
    """The password and the base64 of ``user:password`` (a Basic ``Authorization`` value)."""
    raw = reveal(password)
    register(raw)
    register(base64.b64encode(f"{user}:{raw}".encode()).decode("ascii"))


def is_registered(value: str) -> bool:
    return value in _REGISTRY


def clear_registry() -> None:
    """Forget every registered value (tests only: a CLI process keeps them to the end)."""
    _REGISTRY.clear()


# ``scheme://user:password@`` → ``scheme://user:***@`` (the user stays: it helps and is no
# secret); a bare ``scheme://token@`` is left alone (it is most often a user name).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@?#]*):([^/\s@?#]+)@")
# An Authorization header value, however it is quoted (``"Authorization": "Basic …"``).
_AUTH_VALUE = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?\s*(?:basic|bearer|token)\s+)[A-Za-z0-9+/=._~-]+"
)


def redact(text: str) -> str:
    """``text`` with every registered secret, URL password and Authorization value masked."""
    if not text:
        return text
    text = _REGISTRY.mask(text)
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_VALUE.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_value(value: Any) -> Any:
    """``redact`` applied to every string of a JSON-like value (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# terminal safety

# ESC-introduced sequences: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC
# (ESC P/X/^/_ … ST), and two-character escapes; their 8-bit C1 forms (0x9b CSI, 0x9d OSC…).
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
_STRING_SEQ = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
_ESC_PAIR = r"\x1b[ -~]?"
_ESCAPES = re.compile(f"{_CSI}|{_STRING_SEQ}|{_ESC_PAIR}")
# What the CLI's own colouring and progress bar use: SGR (colours), erase line, cursor up, and
# hide/show cursor. Nothing that clears the screen, moves the cursor elsewhere, or sets a title.
_OWN_CSI = re.compile(r"\x1b\[(?:[0-9;]*[mKA]|\?25[hl])")
# C0 (but \t \n), DEL, C1, and the bidirectional overrides/isolates ("Trojan source").
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_KEEP_CR = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u2028\u2029\x85]+")


def clean_text(text: str) -> str:
    """Server or user text made safe for a terminal: escape sequences and control characters
    removed, ``\\n`` and ``\\t`` kept."""
    if not text or _CONTROLS.search(text) is None:  # every sequence starts with a control
        return text
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def clean_line(text: str) -> str:
    """``clean_text`` on one line: line breaks and tabs become one space."""
    return clean_text(_LINE_BREAKS.sub(" ", text)) if text else text


def clean_stream_text(text: str, *, keep_csi: bool) -> str:
    """What ``SafeStream`` writes: with ``keep_csi`` (the CLI colours its own output) the escape
    sequences the CLI itself uses (colours, erase line, cursor up, cursor visibility) and ``\r``
    survive; everything else as ``clean_text``."""
    if not keep_csi or not text or _CONTROLS.search(text) is None:
        return clean_text(text)
    text = _ESCAPES.sub(lambda m: m.group() if _OWN_CSI.fullmatch(m.group()) else "", text)
    return _CONTROLS_KEEP_CR.sub("", text)


class SafeStream:
    """A text stream wrapper that redacts (and cleans) everything written through it.

    ``allow_csi`` is asked on each write: True while the CLI colours its output on a terminal.
    A write is redacted on its own: a secret split across two ``write`` calls is not seen (the
    CLI writes whole lines and messages).
    """

    def __init__(self, stream: TextIO, allow_csi: Callable[[], bool] = lambda: False) -> None:
        self._stream = stream
        self._allow_csi = allow_csi

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() argument must be str")
        self._stream.write(clean_stream_text(redact(text), keep_csi=self._allow_csi()))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":  # a binary side door would skip the mask
            raise AttributeError(name)
        return getattr(self._stream, name)


# ---------------------------------------------------------------------------------------------
# logging


class RedactFilter(logging.Filter):
    """Masks a record's message (and its formatted traceback) before a handler emits it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _RedactedRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return redact(super().getMessage())


_factory_lock = threading.Lock()


def install_logging_redaction(handlers: Iterable[logging.Handler] = ()) -> None:
    """Every log record's message is redacted, whichever handler emits it; ``handlers`` also get
    a ``RedactFilter`` (which masks tracebacks too). Idempotent."""
    with _factory_lock:
        current = logging.getLogRecordFactory()
        if not getattr(current, "_o2kit_redacting", False):

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = current(*args, **kwargs)
                record.__class__ = _RedactedRecord
                return record

            factory._o2kit_redacting = True  # type: ignore[attr-defined]
            logging.setLogRecordFactory(factory)
    for handler in handlers:
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())


# ---------------------------------------------------------------------------------------------
# markdown


# Punctuation that starts emphasis, code, links, images, tables, headings or strikethrough. ``(``
# is harmless once ``[`` and ``]`` are escaped; ``<``/``>``/``&`` become entities instead.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")


def md_text(text: str) -> str:
    """Text from a server or a title, safe in a Markdown paragraph or table cell on GitHub:
    control characters removed, line breaks folded, HTML (``<details>``, comments such as
    ``<!-- o2kit-plan -->``) and entities neutralised, Markdown punctuation backslash-escaped."""
    text = clean_line(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)
