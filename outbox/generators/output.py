"""What a model answer must be before it is sent: plain, visible text within the bounds.

Nobody reviews the text before it reaches a phone, so anything a phone would show
as raw characters, or that the model cannot vouch for (links, contact details), is
refused here and the user gets offline text instead.
"""

from __future__ import annotations

import json
import re

from outbox.generators.base import MESSAGE_MAX_CHARS, TITLE_MAX_CHARS

# Leftovers of formats we did not ask for, which a phone would show as raw
# characters: code (fences or inline backticks), HTML/XML tags, JSON braces,
# markdown emphasis, headings and links. Bare URLs are refused too: the model is
# not asked for links, and a link in a health notification is one we cannot vouch
# for (it may not even exist).
_MARKUP = re.compile(
    r"`|</?[A-Za-z][^>]*>|[{}]"
    r"|\*\*|__|^\s*#|\[[^\]]*\]\([^)]*\)"
    r"|\bhttps?://|\bwww\.",
    re.MULTILINE | re.IGNORECASE,
)
# Control characters (newlines and tabs aside) and invisible ones: zero-width
# spaces and joiners, direction marks, word joiner, byte-order mark. A text made
# only of these looks empty on a phone.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2060\ufeff]")
# Contact details: the model is given none, so an e-mail address or a phone number in
# its answer is made up or leaked from somewhere, and either way not ours to send.
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven digits or more with at most two of " ().-" between each, optionally after "+"
# or "(": the shape of a phone number, which health advice's figures never have
# (thousands take a comma, ranges few digits); an ISO date is the one exception.
_PHONE = re.compile(r"(?<![\w+])[+(]?\d(?:[ ().-]{0,2}\d){6,}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnusableOutput(ValueError):
    """The model answered, but not with text we can send."""


def text_from_output(content: str | None) -> tuple[str, str]:
    """The (title, message) of a model answer, or ``UnusableOutput`` saying what is wrong.

    Both are stripped of control and invisible characters, the title folded onto
    one line; either is refused when that leaves it empty, when it is too long,
    when it holds markup (see ``_MARKUP``) or contact details.
    """
    if not content:
        raise UnusableOutput("empty answer")
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        raise UnusableOutput(f"not JSON: {content[:80]!r}") from None
    if not isinstance(data, dict):
        raise UnusableOutput("not a JSON object")
    fields = {}
    for key, limit in (("title", TITLE_MAX_CHARS), ("message", MESSAGE_MAX_CHARS)):
        value = data.get(key)
        if not isinstance(value, str):
            raise UnusableOutput(f"{key} missing or empty")
        value = _INVISIBLE.sub("", value).strip()
        if key == "title":
            # A title is one line: folded here rather than refused.
            value = " ".join(value.split())
        if not value:
            # Checked after cleaning: "\u200b" or "\x01\x02" is as empty as "".
            raise UnusableOutput(f"{key} missing or empty")
        if len(value) > limit:
            raise UnusableOutput(f"{key} longer than {limit} characters")
        if _MARKUP.search(value):
            raise UnusableOutput(f"{key} contains markup")
        if has_contact_details(value):
            raise UnusableOutput(f"{key} contains an e-mail address or phone number")
        fields[key] = value
    return fields["title"], fields["message"]


def has_contact_details(text: str) -> bool:
    """Whether ``text`` holds something shaped like an e-mail address or a phone number."""
    # Every address has an "@": most texts need no search for one.
    if "@" in text and _EMAIL.search(text):
        return True
    return any(not _ISO_DATE.fullmatch(candidate.group()) for candidate in _PHONE.finditer(text))


def content_of(completion: object) -> str:
    """The message content of a completion's first choice, or ``UnusableOutput``.

    The client builds response objects leniently, so a body of the wrong shape
    arrives as whatever JSON it was: every step is checked rather than assumed.
    """
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise UnusableOutput("no choices in the answer")
    message = getattr(choices[0], "message", None)
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise UnusableOutput(f"refused: {str(refusal)[:80]}")
    if getattr(choices[0], "finish_reason", None) == "length":
        raise UnusableOutput("answer cut off at the token limit")
    content = getattr(message, "content", None)
    if not isinstance(content, str):
        raise UnusableOutput("no text in the answer")
    return content
