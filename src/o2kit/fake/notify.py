"""Alert destinations and templates: ``/api/{org}/alerts/destinations`` and ``.../templates``.

Sources (under ``/work/oo/src``): handlers ``api/management/src/request/alerts/
{destinations,templates}.rs``; shapes ``api/management/src/models/destinations.rs``; rules
``core/src/alerts/destinations.rs`` (``save``, ``ensure_prebuilt_template``, ``delete``),
``core/src/alerts/templates.rs`` (``save``, ``delete``, ``resolve_kind``),
``db/src/alerts/{destinations,templates}.rs`` (error texts, lookups that fall back to the
``default`` org, list order), ``config/src/utils/ssrf_guard.rs``, ``config/src/prebuilt_loader.rs``
and ``config/prebuilt-destinations.json`` (the prebuilt kinds); error → status:
``core/src/http.rs`` (``destination_error_response``, ``template_error_response``).

Deviation: the SSRF guard's DNS step (a hostname must resolve, and to public addresses only) is
not performed — the fake has no DNS. Only the string checks are applied: http/https only, no
private/loopback/link-local IP literals, no ``localhost``/``.local``/``.internal``/metadata
hosts. ``Store.ssrf_allow_loopback`` (``ZO_SSRF_ALLOW_LOOPBACK``) switches the guard off, as on
the server.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import urlsplit

from .http import (
    Request,
    Response,
    error,
    json_response,
    message,
    ok,
    read_json,
    shape_error,
)
from .serde import Bool, Custom, Enum, Field, Map, SerdeError, Str, Struct, Vec, opt
from .state import DEFAULT_ORG, Destination, Store, Template

S, B = Str(), Bool()
_OFGA_UNSUPPORTED = re.compile(r"[:#?\s'\"%&]+")  # config/src/utils/str.rs

DESTINATION_TYPE = Enum("DestinationType", ["http", "email", "sns"], default="http")
HTTP_METHOD = Enum("HTTPType", ["post", "put", "get"], default="post")


def _read_output_format(value: Any) -> Any:
    # config/src/meta/destinations.rs HTTPOutputFormat (externally tagged, lowercase)
    if value in ("json", "ndjson", "nestedevent"):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (tag, inner), = value.items()
        shapes = {"esbulk": "index", "stringseparated": "separator"}
        if tag in shapes:
            body = Struct(tag, [Field(shapes[tag], S)]).de(inner)
            return {tag: body}
    names = ["json", "ndjson", "nestedevent", "esbulk", "stringseparated"]
    shown = value if isinstance(value, str) else next(iter(value), "") \
        if isinstance(value, dict) else str(value)
    raise SerdeError(f"unknown variant `{shown}`, expected one of "
                     + ", ".join(f"`{n}`" for n in names))


DESTINATION_BODY = Struct("Destination", [
    Field("name", S, default=""), Field("url", S, default=""),
    Field("method", HTTP_METHOD, default="post"), Field("skip_tls_verify", B, default=False),
    opt("headers", Map(S)), opt("template", S), Field("emails", Vec(S), default=[]),
    opt("sns_topic_arn", S), opt("aws_region", S), Field("type", DESTINATION_TYPE, default="http"),
    opt("output_format", Custom("HTTPOutputFormat", _read_output_format)),
    opt("destination_type_name", S), Field("metadata", Map(S), default={}),
])
TEMPLATE_BODY = Struct("Template", [
    Field("name", S, default=""), Field("body", S, default=""),
    Field("isDefault", Custom("bool", lambda v: None if v is None else B.de(v), default=None),
          default=None),
    Field("isPrebuilt", B, default=False), Field("type", DESTINATION_TYPE, default="http"),
    Field("title", S, default=""),
    Field("kind", Custom("String", lambda v: None if v is None else S.de(v), default=None),
          default=None),
])

# Prebuilt kinds: the ids of config/prebuilt-destinations.json plus their endpoint
# destination_type ("teams" for msteams); get_prebuilt_template matches either.
PREBUILT_KINDS = {"slack": "http", "msteams": "http", "teams": "http", "pagerduty": "http",
                  "discord": "http", "webhook": "http", "opsgenie": "http", "servicenow": "http",
                  "email": "email"}
SYSTEM_TEMPLATES = ["prebuilt_slack", "prebuilt_msteams", "prebuilt_pagerduty",
                    "prebuilt_discord", "prebuilt_webhook", "prebuilt_opsgenie",
                    "prebuilt_servicenow", "prebuilt_email"]
DEFAULT_CONTENT_TEMPLATE = "o2_default_content"


def prebuilt_template(kind: str) -> Template:
    """A stand-in for the shipped template of a prebuilt kind (own wording, same type)."""
    if PREBUILT_KINDS[kind] == "email":
        return Template("", f"prebuilt_{kind}", "<p>{alert_name} fired on {stream_name}</p>",
                        "email", "OpenObserve Alert: {alert_name}", "custom")
    body = json.dumps({"text": f"[{kind}] {{alert_name}} fired on {{stream_name}}: {{rows}}"})
    return Template("", f"prebuilt_{kind}", body, "http", "", "custom")


def seed_system_templates(store: Store) -> None:
    """``ensure_system_templates``: the prebuilt templates and the default content template
    live in org ``default`` and are visible from every org."""
    for name in SYSTEM_TEMPLATES:
        template = prebuilt_template(name.removeprefix("prebuilt_"))
        template.org = DEFAULT_ORG
        store.templates[(DEFAULT_ORG, name)] = template
    content = json.dumps({"title": "[{alert_level}] {alert_name} on {stream_name}",
                          "body": "**{alert_name}** fired for stream **{stream_name}**."})
    store.templates[(DEFAULT_ORG, DEFAULT_CONTENT_TEMPLATE)] = Template(
        DEFAULT_ORG, DEFAULT_CONTENT_TEMPLATE, content, "http", "", "content")


def is_prebuilt_name(name: str) -> bool:
    return name.startswith("prebuilt_") and name.removeprefix("prebuilt_") in PREBUILT_KINDS


def is_reserved_name(name: str) -> bool:
    return is_prebuilt_name(name) or name == DEFAULT_CONTENT_TEMPLATE


def _find_template(store: Store, org: str, name: str) -> Template | None:
    # db/src/alerts/templates.rs get: the org first, then the default org
    return store.templates.get((org, name)) or store.templates.get((DEFAULT_ORG, name))


def ssrf_problem(url: str) -> str | None:
    """The string checks of ``SsrfGuard::validate_url_inner`` (no DNS, see module doc)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as err:
        return f"Invalid URL: {err}"
    if not parts.scheme or not parts.netloc and parts.scheme not in ("http", "https"):
        return "Invalid URL: relative URL without a base"
    if parts.scheme.lower() not in ("http", "https"):
        return f"Unsupported URL scheme: {parts.scheme.lower()}. Only HTTP and HTTPS are allowed."
    if not host:
        return "Invalid URL: empty host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if _private(address):
            return (f"Access to private IP address {address} is not allowed for security "
                    "reasons. This prevents Server-Side Request Forgery (SSRF) attacks.")
        return None
    if host in ("localhost", "127.0.0.1") or host.startswith("localhost."):
        return "Access to localhost is not allowed for security reasons"
    if host.endswith((".internal", ".local", ".localdomain", ".lan")) or ".local." in host:
        return f"Access to internal domain {host} is not allowed for security reasons"
    if host in ("169.254.169.254", "metadata.google.internal", "metadata") \
            or host.endswith((".metadata.google.internal", "metadata.")):
        return f"Access to cloud metadata endpoint {host} is not allowed for security reasons"
    return None


def _private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _private(address.ipv4_mapped)
        first = address.packed[0] << 8 | address.packed[1]
        second = address.packed[2] << 8 | address.packed[3]
        return (address.is_unspecified or address.is_loopback or first & 0xFFC0 == 0xFE80
                or first & 0xFE00 == 0xFC00 or (first == 0x2001 and second == 0xDB8))
    a, b, c, d = address.packed
    return (a == 0 or a == 127 or a == 10 or (a == 172 and 16 <= b <= 31)
            or (a == 192 and b == 168) or (a == 169 and b == 254)
            or (a == 100 and 64 <= b <= 127) or (a == 192 and b == 0 and c == 2)
            or (a == 198 and b == 51 and c == 100) or (a == 203 and b == 0 and c == 113)
            or (a == 198 and b in (18, 19)) or (a >= 240 and (a, b, c, d) != (255,) * 4))


# --- destinations -----------------------------------------------------------------------------

def _destination_json(body: dict[str, Any], module: str) -> dict[str, Any]:
    """What ``From<meta::Destination> for Destination`` gives back for a stored destination."""
    kind = body["type"] if module == "alert" else "http"
    out: dict[str, Any] = {"name": body["name"], "url": "", "method": "post",
                           "skip_tls_verify": False}
    if kind == "http":
        out.update(url=body["url"], method=body["method"],
                   skip_tls_verify=body["skip_tls_verify"])
        if body.get("headers") is not None:
            out["headers"] = body["headers"]
    if module == "alert" and body.get("template"):
        out["template"] = body["template"]
    out["emails"] = body["emails"] if kind == "email" else []
    if kind == "sns":
        out["sns_topic_arn"] = body["sns_topic_arn"]
        out["aws_region"] = body["aws_region"]
    out["type"] = kind
    if kind == "http":
        if body.get("output_format") is not None:
            out["output_format"] = body["output_format"]
        if body.get("destination_type_name") is not None:
            out["destination_type_name"] = body["destination_type_name"]
        out["metadata"] = body["metadata"]
    else:
        out["metadata"] = {}
    return out


def _save_destination(store: Store, req: Request, route_name: str, create: bool) -> str:
    org = req.params["org"]
    raw = read_json(req)
    try:
        body = DESTINATION_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    module = "pipeline" if req.query_map().get("module") == "pipeline" else "alert"
    if not body.get("template"):
        body["template"] = None
    kind = body["type"] if module == "alert" else "http"
    if kind == "sns" and (not body.get("sns_topic_arn") or not body.get("aws_region")):
        raise error(400, "SNS destination must have Topic ARN and Region")
    if kind == "email":
        if not body["emails"]:
            raise error(400, "Email destination must have at least one email recipient")
        if not store.smtp_enabled:
            raise error(400, "Email destination must have SMTP configured")
        recipients = []
        for email in body["emails"]:
            email = email.strip().lower()
            user = store.users.get(email)
            if user is None or (user.orgs is not None and org not in user.orgs):
                raise error(400, "Email destination recipients must be part of this org")
            recipients.append(email)
        body["emails"] = recipients
    elif kind == "http":
        if not body["url"]:
            raise error(400, "HTTP destination must have a url")
        problem = None if store.ssrf_allow_loopback else ssrf_problem(body["url"])
        if problem:
            raise error(400, f"Destination URL blocked by SSRF guard: {problem}")

    name = (route_name or body["name"]).strip()
    if not name:
        raise error(400, "Destination name cannot be empty")
    if "/" in name or _OFGA_UNSUPPORTED.search(name):
        raise error(400, "Destination name cannot contain ':', '#', '?', '&', '%', '/', quotes "
                         "and space characters")
    exists = (org, name) in store.destinations
    if create and exists:
        raise error(400, "Destination with the same name already exists")
    if not create and not exists:
        raise error(404, "Destination not found")
    body["name"] = name

    if module == "alert":
        prebuilt = body.get("destination_type_name") if kind == "http" else (
            "email" if kind == "email" and (body.get("template") or "").startswith("prebuilt_")
            else None)
        if prebuilt and prebuilt != "custom":
            template_name = f"prebuilt_{prebuilt}"
            if _find_template(store, org, template_name) is None:
                if prebuilt not in PREBUILT_KINDS:
                    raise error(400, f"Prebuilt template not found for type: {prebuilt}")
                template = prebuilt_template(prebuilt)
                template.org, template.name = org, template_name
                store.templates[(org, template_name)] = template
            if body.get("template") is None:
                body["template"] = template_name
    else:
        body["template"] = None
    store.destinations[(org, name)] = Destination(org, name, module, body)
    return name


def create_destination(store: Store, req: Request) -> Response:
    name = _save_destination(store, req, "", create=True)
    return message(200, "Destination saved", id=store.ksuid(), name=name)


def update_destination(store: Store, req: Request) -> Response:
    _save_destination(store, req, req.params["name"], create=False)  # the path name wins
    return ok("Destination updated")


def get_destination(store: Store, req: Request) -> Response:
    destination = store.destinations.get((req.params["org"], req.params["name"]))
    if destination is None:
        raise error(404, "Destination not found")
    return json_response(_destination_json(destination.body, destination.module))


def list_destinations(store: Store, req: Request) -> Response:
    org = req.params["org"]
    module = req.query_map().get("module")
    found = [d for (o, _), d in store.destinations.items()
             if o == org and (module is None or d.module == module.lower())]
    found.sort(key=lambda d: d.name)
    return json_response([_destination_json(d.body, d.module) for d in found])


def delete_destination(store: Store, req: Request) -> Response:
    org, name = req.params["org"], req.params["name"]
    for alert in store.alerts.values():
        if alert.org == org and name in alert.meta["destinations"]:
            raise error(409, f"Destination is currently used by alert: {alert.meta['name']}")
    if (org, name) not in store.destinations:
        raise error(404, "Destination not found")
    del store.destinations[(org, name)]
    return ok("Alert destination deleted")


# --- templates --------------------------------------------------------------------------------

def _template_json(template: Template) -> dict[str, Any]:
    """``From<meta::Template> for Template``: ``isDefault`` is true or null."""
    return {"name": template.name, "body": template.body,
            "isDefault": True if template.org == DEFAULT_ORG else None,
            "isPrebuilt": is_prebuilt_name(template.name), "type": template.template_type,
            "title": template.title if template.template_type == "email" else "",
            "kind": template.kind}


def _save_template(store: Store, req: Request, route_name: str, create: bool) -> str:
    org = req.params["org"]
    raw = read_json(req)
    try:
        body = TEMPLATE_BODY.de(raw)
    except SerdeError as err:
        raise shape_error(err) from None
    requested = body["kind"]
    if requested not in (None, "custom", "content"):
        raise error(400, f"invalid template kind: {requested}")
    if not body["body"]:
        raise error(400, "Template body cannot be empty")
    name = (route_name or body["name"]).strip()
    if not name:
        raise error(400, "Template name cannot be empty")
    if "/" in name or _OFGA_UNSUPPORTED.search(name):
        raise error(400, "Template name cannot contain ':', '#', '?', '&', '%', '/', quotes and "
                         "space characters")
    if is_reserved_name(name):
        if create:
            raise error(400, f"Template name '{name}' is reserved for system prebuilt "
                             "templates. Pick a different name.")
        if not _is_root(store, req.user):
            raise error(403, f"Template '{name}' is a system prebuilt template and cannot be "
                             "modified or deleted. Create a copy with a different name to "
                             "customize it.")
    existing = _find_template(store, org, name)
    if create and existing is not None:
        raise error(400, "Template with the same name already exists")
    if not create and existing is None:
        raise error(404, "Template not found")
    owner_org = existing.org if existing is not None else org  # may be the default org
    kind = requested or (existing.kind if existing is not None and not create else "custom")
    if kind == "content":
        problem = _content_spec_problem(body["body"])
        if problem:
            raise error(400, f"content template body is not a valid content spec: {problem}")
    elif body["type"] == "email" and not body["title"]:
        raise error(400, "Email Template cannot have empty title")
    title = body["title"] if body["type"] == "email" else ""
    store.templates[(owner_org, name)] = Template(owner_org, name, body["body"], body["type"],
                                                  title, kind)
    return name


def _content_spec_problem(text: str) -> str | None:
    # config/src/meta/alerts/content_spec.rs ContentSpec::parse: a JSON object whose keys all
    # have defaults (string title/body, lists of fields and links...). Only the outer shape and
    # the string-ness of title/body are checked here.
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        return f"{err.msg} at line {err.lineno} column {err.colno}"
    if not isinstance(spec, dict):
        return f"invalid type: {type(spec).__name__}, expected struct ContentSpec"
    for key in ("title", "body"):
        if key in spec and not isinstance(spec[key], str):
            return f"invalid type for `{key}`, expected a string"
    return None


def _is_root(store: Store, email: str) -> bool:
    user = store.users.get(email)
    return user is not None and user.orgs is None


def create_template(store: Store, req: Request) -> Response:
    name = _save_template(store, req, "", create=True)
    return message(200, "Template saved", id=store.ksuid(), name=name)


def update_template(store: Store, req: Request) -> Response:
    _save_template(store, req, req.params["name"], create=False)
    return ok("Template updated")


def get_template(store: Store, req: Request) -> Response:
    template = _find_template(store, req.params["org"], req.params["name"])
    if template is None:
        raise error(404, "Template not found")
    return json_response(_template_json(template))


def list_templates(store: Store, req: Request) -> Response:
    org = req.params["org"]
    found = [t for (o, _), t in store.templates.items() if o in (org, DEFAULT_ORG)]
    found.sort(key=lambda t: t.name)
    return json_response([_template_json(t) for t in found])


def delete_template(store: Store, req: Request) -> Response:
    org, name = req.params["org"], req.params["name"]
    if not _is_root(store, req.user) and is_reserved_name(name):
        raise error(403, f"Template '{name}' is a system prebuilt template and cannot be "
                         "modified or deleted. Create a copy with a different name to "
                         "customize it.")
    # db/src/alerts/templates.rs delete: the cache keys are matched with `starts_with(org_id)`
    # (no trailing slash), so destinations of the default org count too.
    for (dest_org, _), destination in store.destinations.items():
        if (dest_org.startswith(org) or dest_org.startswith(DEFAULT_ORG)) \
                and destination.body.get("template") == name:
            raise error(409, f"Template is in use for destination {destination.name}")
    for alert in store.alerts.values():
        if (alert.org.startswith(org) or alert.org.startswith(DEFAULT_ORG)) \
                and alert.meta.get("template") == name:
            raise error(400, f"Template is in use for alert {alert.meta['name']}")
    if (org, name) not in store.templates:
        raise error(404, "Template not found")
    del store.templates[(org, name)]
    return ok("Template deleted")
