# SPDX-License-Identifier: GPL-2.0-or-later
"""Agent parameters, declared once.

One `Param` gives the meta-data entry, the typed value parsed from
`OCF_RESKEY_<name>`, and the validation message when the value is wrong.

Only the content types both ra-api-1.dtd and the OCF 1.1 schema accept are
emitted (string, integer, boolean); a choice list is rendered as a string whose
allowed values are listed in the descriptions and enforced here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

TRUE_WORDS = frozenset({"1", "yes", "true", "on", "y"})
FALSE_WORDS = frozenset({"0", "no", "false", "off", "n"})

CONTENT_TYPES = ("string", "integer", "boolean")


class ParamProblem(ValueError):
    """A parameter value that is invalid for the whole cluster (an OCF_ERR_CONFIGURED cause)."""


class Param:
    """One agent parameter: its meta-data and how to read it.

    A plain class with slots, not a dataclass: this module is on every probe's path.
    `check` is an extra syntax check on the parsed value, returning an error text or None.
    """

    __slots__ = ("name", "shortdesc", "longdesc", "type", "default", "required", "unique", "secret",
                 "choices", "minimum", "maximum", "check")

    def __init__(self, name: str, shortdesc: str, longdesc: str, type: str = "string", default: "Any" = None,
                 required: bool = False, unique: bool = False, secret: bool = False,
                 choices: "Tuple[str, ...]" = (), minimum: "Optional[int]" = None,
                 maximum: "Optional[int]" = None, check: "Optional[Callable[[Any], Optional[str]]]" = None) -> None:
        if type not in CONTENT_TYPES:
            raise ValueError(f"parameter {name}: unsupported type {type!r}")
        if not name.replace("_", "").isalnum():
            raise ValueError(f"parameter name {name!r} must be [A-Za-z0-9_]")
        self.name = name
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.type = type
        self.default = default
        self.required = required
        self.unique = unique
        self.secret = secret
        self.choices = tuple(choices)
        self.minimum = minimum
        self.maximum = maximum
        self.check = check

    def __repr__(self) -> str:
        return f"Param({self.name!r}, type={self.type!r}, default={self.default!r})"

    @property
    def env_name(self) -> str:
        return "OCF_RESKEY_" + self.name

    def default_text(self) -> Optional[str]:
        """The default as meta-data shows it."""
        if self.default is None:
            return None
        if self.type == "boolean":
            return "true" if self.default else "false"
        return str(self.default)

    def parse(self, raw: str) -> Any:
        """Typed value of `raw`, or ParamProblem with a one-line message."""
        text = raw.strip()
        if self.type == "boolean":
            word = text.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ParamProblem(f"parameter {self.name}: {_show(raw)} is not a boolean (use true or false)")
        if self.type == "integer":
            try:
                value = int(text, 10)
            except ValueError:
                raise ParamProblem(f"parameter {self.name}: {_show(raw)} is not an integer") from None
            if self.minimum is not None and value < self.minimum:
                raise ParamProblem(f"parameter {self.name}: {value} is below the minimum {self.minimum}")
            if self.maximum is not None and value > self.maximum:
                raise ParamProblem(f"parameter {self.name}: {value} is above the maximum {self.maximum}")
            return value
        if self.choices and raw not in self.choices:
            raise ParamProblem(f"parameter {self.name}: {_show(raw)} is not one of {', '.join(self.choices)}")
        if "\x00" in raw:
            raise ParamProblem(f"parameter {self.name}: contains a NUL byte")
        return raw


    def validate(self, raw: str) -> Any:
        """`parse` plus the declared `check`: what the runtime, `bacula-ha check` and
        `bacula-ha render` all apply, so that they agree on every value."""
        value = self.parse(raw)
        if self.check is not None:
            message = self.check(value)
            if message:
                raise ParamProblem(f"parameter {self.name}: {message}")
        return value


def _show(raw: str) -> str:
    """A bad value, quoted and shortened, safe for a one-line reason."""
    text = raw if len(raw) <= 40 else raw[:37] + "..."
    return repr(text)


class ParamValues:
    """Parsed parameter values, read as attributes (`params.config`)."""

    def __init__(self, values: Dict[str, Any], given: Dict[str, bool]) -> None:
        self._values = values
        self._given = given

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def given(self, name: str) -> bool:
        """True when the cluster configuration set this parameter (not a default)."""
        return self._given.get(name, False)

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._values)


def parse_params(specs: Tuple[Param, ...], environ: Mapping[str, str]) -> Tuple[ParamValues, List[str]]:
    """Read every declared parameter from `environ`.

    Returns the values (defaults where a value is missing or invalid, so that
    stop and probes can still do their best) and the list of problems.
    """
    values: Dict[str, Any] = {}
    given: Dict[str, bool] = {}
    problems: List[str] = []
    for spec in specs:
        raw = environ.get(spec.env_name)
        if raw is None or (raw == "" and spec.type != "string"):
            values[spec.name] = spec.default
            given[spec.name] = False
            if spec.required:
                problems.append(f"parameter {spec.name} is required but not set")
            continue
        given[spec.name] = True
        try:
            value = spec.validate(raw)
        except ParamProblem as problem:
            problems.append(str(problem))
            values[spec.name] = spec.default
            continue
        if spec.required and value == "":
            problems.append(f"parameter {spec.name} is required but empty")
        values[spec.name] = value
    return ParamValues(values, given), problems
