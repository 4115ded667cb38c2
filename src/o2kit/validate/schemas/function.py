"""Shape of a VRL function (``Transform``, src/config/src/meta/function.rs, camelCase)."""

from __future__ import annotations

from o2kit.validate.schemas.shapes import AnyValue, Int, Obj, Str, dflt, opt, req

KIND = "function"
SHAPE = Obj(
    {
        "function": req(Str()),
        "name": dflt(Str()),
        "params": dflt(Str()),
        "numArgs": dflt(Int()),
        "transType": opt(Int()),
        "streams": opt(AnyValue()),
    }
)
