"""The message catalogue: what every stable error code says, in zh-CN (the default) and en.

One module per language (`zh_cn`, `en`) holds `MESSAGES` (stable code → template), `TERMS`
(names that differ per language, e.g. credit-code registration authorities) and the
`LIST_SEPARATOR`. A template is a `str.format` string whose named fields are the error's
parameters (`node/domain/errors.py` declares which a code has), with two format specs:
``{authority:term}`` is the language's term ``authority.<value>`` (the value itself if there
is none) and ``{allowed:list}`` joins a sequence (or the characters of a string) with the
language's separator. A parameter the raise site did not give stays in the text as
``{name}``: a message is never worth an exception.

The API error body, the CLI and (through the API body) the screens read messages only from
here; the domain raises codes and parameters. A third language is one more module in
`LANGUAGES`; tests/unit/test_errors.py checks that each covers every code with the
parameters the code has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from types import ModuleType
from typing import Any

from node.domain.errors import DomainError
from node.i18n import en, zh_cn

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Language",
    "error_message",
    "error_texts",
    "language",
    "message",
    "template_fields",
]


@dataclass(frozen=True, slots=True)
class Language:
    tag: str
    messages: Mapping[str, str]
    terms: Mapping[str, str]
    list_separator: str

    @classmethod
    def of(cls, tag: str, module: ModuleType) -> Language:
        return cls(tag=tag, messages=module.MESSAGES, terms=module.TERMS,
                   list_separator=module.LIST_SEPARATOR)


DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES: Mapping[str, Language] = {
    "zh-CN": Language.of("zh-CN", zh_cn),
    "en": Language.of("en", en),
}

_PARSER = Formatter()


def language(tag: str) -> Language:
    """The catalogue for a language tag: exact, else by primary subtag (`zh-Hans` → zh-CN,
    `en-GB` → en), else the default."""
    found = LANGUAGES.get(tag)
    if found is None:
        primary = tag.split("-", 1)[0].lower()
        found = next((lang for key, lang in LANGUAGES.items()
                      if key.split("-", 1)[0].lower() == primary), None)
    return found or LANGUAGES[DEFAULT_LANGUAGE]


def template_fields(template: str) -> list[tuple[str, str]]:
    """(parameter, format spec) of every field of a template."""
    return [(name, spec or "") for _, name, spec, _ in _PARSER.parse(template)
            if name is not None]


def message(code: str, params: Mapping[str, Any] | None = None,
            lang: str = DEFAULT_LANGUAGE) -> str:
    """The text of `code` in `lang`, filled with `params`. An unknown code reads as itself."""
    catalogue = language(lang)
    template = catalogue.messages.get(code)
    if template is None:
        return code
    return _render(template, params or {}, catalogue)


def error_message(exc: DomainError, lang: str = DEFAULT_LANGUAGE) -> str:
    """What `exc` says in `lang`."""
    return message(exc.code, exc.params, lang)


def operator_text(exc: BaseException) -> str:
    """English for logs and operator-facing records (dead letters, refusals): a domain
    error's catalogue text with its field, anything else its own text (or its repr)."""
    if isinstance(exc, DomainError):
        field = getattr(exc, "field", "")
        text = error_message(exc, "en")
        return f"{field}: {text}" if field else text
    return str(exc) or repr(exc)


def error_texts(exc: DomainError) -> tuple[str, str]:
    """(zh-CN, en): the two texts of the API's error body."""
    return error_message(exc, "zh-CN"), error_message(exc, "en")


def _render(template: str, params: Mapping[str, Any], catalogue: Language) -> str:
    out: list[str] = []
    for literal, name, spec, _conversion in _PARSER.parse(template):
        out.append(literal)
        if name is None:
            continue
        if name not in params:
            out.append("{" + name + "}")
            continue
        value = params[name]
        if spec == "term":
            out.append(catalogue.terms.get(f"{name}.{value}", str(value)))
        elif spec == "list":
            items = value if isinstance(value, str | list | tuple) else [value]
            out.append(catalogue.list_separator.join(str(v) for v in items))
        else:
            out.append(format(value, spec or ""))
    return "".join(out)
