"""Record converters: raw rows of each supported schema -> validated PairRecord / SftRecord.

Every problem raises a one-line DataError naming the source, the record index and the field.
Schemas: ``pku_saferlhf``, ``ultrafeedback``, ``pair`` (generic), ``sft``, ``prompts`` (a prompt and
optional ``tags``: a mapping of strings, numbers or booleans, for reporting only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from bfpo_ray.data.errors import DataError, record_error
from bfpo_ray.data.records import Message, PairRecord, PromptRecord, SftRecord

ROLES = ("system", "user", "assistant")
PREFERENCES = ("helpful", "safer")

_MISSING: Any = object()

Converter = Callable[[Any, str, int], "PairRecord | SftRecord | PromptRecord"]


def _show(value: Any) -> str:
    """A short one-line repr of a bad value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Row:
    """One raw row plus its location; typed field readers that fail with located DataErrors."""

    def __init__(self, row: Any, source: str, index: int) -> None:
        self.source, self.index = source, index
        if not isinstance(row, Mapping):
            self.fail(f"must be an object with named fields, got {type(row).__name__}", "wrong_type")
        self.row = row

    def fail(self, message: str, reason: str) -> NoReturn:
        raise record_error(self.source, self.index, message, reason)

    @property
    def origin(self) -> str:
        return f"{self.source}#{self.index}"

    def has(self, name: str) -> bool:
        return self.row.get(name) is not None

    def field(self, name: str) -> Any:
        if not self.has(name):
            self.fail(f"missing field '{name}'", "missing_field")
        return self.row[name]

    def text(self, name: str, value: Any = _MISSING) -> str:
        value = self.field(name) if value is _MISSING else value
        if not isinstance(value, str):
            self.fail(f"field '{name}' must be a string, got {type(value).__name__}", "wrong_type")
        if not value.strip():
            self.fail(f"field '{name}' is empty", "empty_text")
        return value

    def label(self, name: str) -> int:
        value = self.field(name)
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return int(value)
        self.fail(f"field '{name}' must be 0 or 1 (or a bool), got {_show(value)}", "bad_label")

    def response_id(self, name: str) -> int:
        value = self.field(name)
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return value
        self.fail(f"field '{name}' must be the response id 0 or 1, got {_show(value)}", "bad_id")

    def messages(self, name: str, value: Any = _MISSING) -> list[Message]:
        value = self.field(name) if value is _MISSING else value
        if not isinstance(value, list) or not value:
            self.fail(f"field '{name}' must be a non-empty list of messages, got {_show(value)}",
                      "wrong_type")
        out: list[Message] = []
        for i, message in enumerate(value):
            where = f"{name}[{i}]"
            if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
                self.fail(f"field '{where}' must be a {{'role', 'content'}} message, got {_show(message)}",
                          "wrong_type")
            role = message["role"]
            if role not in ROLES:
                self.fail(f"field '{where}' has unknown role {_show(role)} (valid: {', '.join(ROLES)})",
                          "unknown_role")
            out.append({"role": role, "content": self.text(f"{where}.content", message["content"])})
        return out

    def prompt(self, name: str) -> tuple[Message, ...]:
        """A prompt given as a string (one user turn) or a message list ending with a user turn."""
        value = self.field(name)
        if isinstance(value, str):
            return ({"role": "user", "content": self.text(name)},)
        if not isinstance(value, list):
            self.fail(f"field '{name}' must be a string or a list of messages, got {type(value).__name__}",
                      "wrong_type")
        messages = self.messages(name, value)
        self.check_ends_with_user(name, messages)
        return tuple(messages)

    def check_ends_with_user(self, name: str, messages: list[Message]) -> None:
        if not messages or messages[-1]["role"] != "user":
            self.fail(f"field '{name}': the conversation before the response must end with a user turn",
                      "prompt_not_user")

    def split_response(self, name: str) -> tuple[list[Message], str]:
        """Split a message list into (conversation, final assistant response)."""
        messages = self.messages(name)
        if messages[-1]["role"] != "assistant":
            self.fail(f"field '{name}' must end with an assistant turn, got {_show(messages[-1]['role'])}",
                      "no_assistant_response")
        self.check_ends_with_user(name, messages[:-1])
        return messages[:-1], messages[-1]["content"]

    def pair(self, prompt: tuple[Message, ...], chosen: str, rejected: str, chosen_safe: int,
             rejected_safe: int) -> PairRecord:
        if chosen.strip() == rejected.strip():
            self.fail("chosen and rejected responses are identical", "identical_responses")
        return PairRecord(prompt, chosen, rejected, chosen_safe, rejected_safe, self.origin)


def _pku(row: _Row, preference: str) -> PairRecord:
    prompt = row.prompt("prompt")
    texts = [row.text("response_0"), row.text("response_1")]
    safe = [row.label("is_response_0_safe"), row.label("is_response_1_safe")]
    better = row.response_id("better_response_id")
    safer = row.response_id("safer_response_id")
    if not safe[safer] and safe[1 - safer]:
        row.fail(f"contradictory labels: safer_response_id={safer} points to an unsafe response "
                 f"while response_{1 - safer} is safe", "contradiction")
    first = better if preference == "helpful" else safer
    return row.pair(prompt, texts[first], texts[1 - first], safe[first], safe[1 - first])


def _ultrafeedback(row: _Row, preference: str) -> PairRecord:
    row.text("prompt")
    chosen_context, chosen = row.split_response("chosen")
    rejected_context, rejected = row.split_response("rejected")
    if chosen_context != rejected_context:
        row.fail("fields 'chosen' and 'rejected' must share the same conversation before the response",
                 "prefix_mismatch")
    return row.pair(tuple(chosen_context), chosen, rejected, 1, 1)


def _pair(row: _Row, preference: str) -> PairRecord:
    return row.pair(row.prompt("prompt"), row.text("chosen"), row.text("rejected"),
                    row.label("chosen_safe"), row.label("rejected_safe"))


def _sft(row: _Row, preference: str) -> SftRecord:
    if row.has("messages"):
        context, response = row.split_response("messages")
        return SftRecord(tuple(context), response, row.origin)
    if not row.has("prompt") and not row.has("response"):
        row.fail("missing field 'messages' (or the fields 'prompt' and 'response')", "missing_field")
    return SftRecord(row.prompt("prompt"), row.text("response"), row.origin)


def _prompts(row: _Row, preference: str) -> PromptRecord:
    tags = row.row.get("tags") or {}
    if not isinstance(tags, Mapping):
        row.fail(f"field 'tags' must be a mapping, got {_show(tags)}", "wrong_type")
    for key, value in tags.items():
        if not isinstance(value, str | int | float | bool):
            row.fail(f"field 'tags.{key}' must be a string, number or boolean, got {_show(value)}", "wrong_type")
    return PromptRecord(row.prompt("prompt"), tuple(sorted((str(k), v) for k, v in tags.items())), row.origin)


_CONVERTERS: dict[str, Callable[[_Row, str], PairRecord | SftRecord | PromptRecord]] = {
    "pku_saferlhf": _pku,
    "ultrafeedback": _ultrafeedback,
    "pair": _pair,
    "sft": _sft,
    "prompts": _prompts,
}
SCHEMAS = tuple(_CONVERTERS)


def get_converter(schema: str, preference: str = "helpful") -> Converter:
    """Return ``convert(row, source, index) -> PairRecord | SftRecord | PromptRecord`` for ``schema``.

    ``preference`` picks the chosen response of ``pku_saferlhf`` rows: ``"helpful"`` (the
    ``better_response_id``) or ``"safer"`` (the ``safer_response_id``); other schemas take only
    ``"helpful"``. Raises DataError for an unknown schema or preference.
    """
    if schema not in _CONVERTERS:
        raise DataError(f"unknown data schema {schema!r} (valid: {', '.join(SCHEMAS)})", "bad_option")
    if preference not in PREFERENCES or (preference != "helpful" and schema != "pku_saferlhf"):
        valid = PREFERENCES if schema == "pku_saferlhf" else ("helpful",)
        raise DataError(f"schema {schema!r} has no preference {preference!r} (valid: {', '.join(valid)})",
                        "bad_option")
    convert = _CONVERTERS[schema]

    def converter(row: Any, source: str, index: int) -> PairRecord | SftRecord | PromptRecord:
        return convert(_Row(row, source, index), preference)

    return converter
