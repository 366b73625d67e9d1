"""Turning chat messages into the text a local model reads (its prompt), and recording how.

A prompt is a list of chat messages (docs/method.md section 2: one system message, then the user
messages, the last one ``"Answer:"``). A local model reads text, so the messages are rendered
with a *template*; which one is part of the model key and of the run record, because it
changes every answer. Four choices (``template=``):

``"chat"``
    the tokenizer's own chat template:
    ``tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)``.
``"plain"``
    for base models without a chat template (:func:`render_plain`): the system message
    followed by a blank line if it is non-empty, then the other messages' contents
    concatenated as they are. The protocol's user messages already end in line breaks, so the
    text reads ``... (C): ...\\nAnswer:`` and the model continues after ``Answer:``.
a file path
    a Jinja chat template of your own (same variables as a tokenizer's chat template:
    ``messages``, ``add_generation_prompt``, ``bos_token``, ``eos_token``, ``raise_exception``).
``"auto"`` (default)
    ``"chat"`` when the tokenizer has a chat template, else ``"plain"``; the fallback is logged
    once per tokenizer, since a chat model scored without its template is a different test.

Some chat templates refuse the protocol's messages (several user turns in a row, or an empty
system message for the default persona). That is detected and raised as
:class:`~socialbias.errors.InputError` naming the fixes: expand the prompts with
``--template merged`` (one user turn), or render them with ``--template plain`` or a template
file. Messages are never changed silently.

:class:`TemplateInfo` records the template actually applied: its kind and the SHA-256 of its
source (the chat template's Jinja text, the file's text, or :data:`PLAIN_TEMPLATE_SPEC`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import InputError

logger = logging.getLogger(__name__)

#: The template names :func:`resolve_template` knows; anything else must be a template file.
TEMPLATE_NAMES: tuple[str, ...] = ("auto", "chat", "plain")

#: What the plain rendering does, versioned; its SHA-256 is the plain template's hash, so that a
#: change to :func:`render_plain` must change this text and with it every model key that used it.
PLAIN_TEMPLATE_SPEC = (
    "socialbias plain/1: system content + '\\n\\n' if non-empty, then the contents of the other "
    "messages concatenated as they are"
)

_FIX = (
    "expand the prompts with --template merged (one user message) if it needs alternating roles, "
    "or render them with --template plain (or --template FILE.jinja, a chat template of your own)"
)

# Tokenizers already told that "auto" fell back to plain (logged once per tokenizer per process).
_NOTICED: set[str] = set()


@dataclass(frozen=True)
class TemplateInfo:
    """The template that rendered a run's prompts, for the model key and the run record.

    ``name`` is ``"chat"`` (the tokenizer's), ``"plain"`` or ``"file"``; ``sha256`` is the hash of
    the template's source text; ``path`` is the file of a ``"file"`` template.
    """

    name: str
    sha256: str
    path: str | None = None

    @property
    def key(self) -> str:
        """Short identity for model keys: name and hash (not the path: moving a file changes nothing)."""
        return f"{self.name}:{self.sha256[:16]}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "path": self.path}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_plain(messages: Sequence[Mapping[str, str]]) -> str:
    """The plain rendering (see :data:`PLAIN_TEMPLATE_SPEC`): no role markers, no special tokens.

    >>> render_plain([{"role": "system", "content": "You are a kid."},
    ...               {"role": "user", "content": "Q?\\n"}, {"role": "user", "content": "Answer:"}])
    'You are a kid.\\n\\nQ?\\nAnswer:'
    """
    parts = []
    for m in messages:
        content = m["content"]
        if m["role"] == "system":
            if content:
                parts.append(content + "\n\n")
        else:
            parts.append(content)
    return "".join(parts)


def _chat_template_source(tokenizer: Any) -> str | None:
    """The tokenizer's default chat template text, or None when it has none."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    if isinstance(template, Mapping):  # older transformers: several named templates
        return template.get("default") or next(iter(template.values()), None)
    return str(template)


def _tokenizer_name(tokenizer: Any) -> str:
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)


def _diagnose(messages: Sequence[Mapping[str, str]]) -> str:
    """What in the messages a strict chat template is likely to reject."""
    roles = [m["role"] for m in messages]
    notes = []
    if any(a == b for a, b in zip(roles, roles[1:])):
        notes.append(f"the messages have roles {'/'.join(roles)}, not alternating")
    if any(m["role"] == "system" and not m["content"] for m in messages):
        notes.append("the system message is empty (default persona)")
    return "; ".join(notes)


class ChatRenderer:
    """A template resolved once for one tokenizer: :attr:`info`, and :meth:`render` per prompt.

    Resolving reads the template (file) and hashes it once; rendering a prompt is then one
    Jinja call. Use :func:`render_prompt` for a single prompt.
    """

    def __init__(self, tokenizer: Any, template: str = "auto") -> None:
        self.tokenizer = tokenizer
        self.requested = str(template)
        self._source: str | None = None  # Jinja text, None for plain
        name = _tokenizer_name(tokenizer)
        own = _chat_template_source(tokenizer) if tokenizer is not None else None
        if self.requested == "auto":
            if own is None:
                if name not in _NOTICED:
                    _NOTICED.add(name)
                    logger.warning(
                        "%s has no chat template: prompts are rendered as plain text (--template plain); "
                        "pass --template FILE.jinja to use a chat template", name)
                kind = "plain"
            else:
                kind = "chat"
        else:
            kind = self.requested
        if kind == "chat":
            if own is None:
                raise InputError(
                    f"{name} has no chat template: use --template plain (base models) or --template FILE.jinja")
            self._source = own
            self.info = TemplateInfo("chat", _sha256(own))
        elif kind == "plain":
            self.info = TemplateInfo("plain", _sha256(PLAIN_TEMPLATE_SPEC))
        else:
            path = Path(self.requested).expanduser()
            if not path.is_file():
                raise InputError(
                    f"template {self.requested!r} is neither {', '.join(TEMPLATE_NAMES)} nor an existing "
                    "Jinja chat template file: give one of those names or the path of a .jinja file")
            try:
                self._source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"cannot read the chat template file {str(path)!r}: {e}") from None
            self.info = TemplateInfo("file", _sha256(self._source), str(path.resolve()))

    def render(self, messages: Sequence[Mapping[str, str]], prompt_id: str | None = None) -> str:
        """The text of one prompt; :class:`InputError` if the chat template rejects the messages."""
        if self._source is None:
            return render_plain(messages)
        try:
            text = self.tokenizer.apply_chat_template(
                [dict(m) for m in messages], chat_template=self._source,
                tokenize=False, add_generation_prompt=True,
            )
        except Exception as e:  # jinja2.TemplateError (raise_exception), TypeError, ValueError, ...
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            what = f"prompt {prompt_id}" if prompt_id else "the messages"
            diagnosis = _diagnose(messages)
            raise InputError(
                f"the {self.info.name} chat template of {_tokenizer_name(self.tokenizer)} rejects {what} "
                f"({reason}{'; ' + diagnosis if diagnosis else ''}): {_FIX}"
            ) from None
        if not isinstance(text, str):  # a template returning tokens would mean a misuse above
            raise InputError(f"the chat template of {_tokenizer_name(self.tokenizer)} did not render text")
        return text


def resolve_template(tokenizer: Any, template: str = "auto") -> ChatRenderer:
    """Resolve ``template`` (``auto``, ``chat``, ``plain`` or a file) for ``tokenizer`` once."""
    return ChatRenderer(tokenizer, template)


def render_prompt(
    messages: Sequence[Mapping[str, str]], tokenizer: Any, template: str = "auto"
) -> tuple[str, TemplateInfo]:
    """Render one prompt's messages; return the text and the :class:`TemplateInfo` applied.

    ``template`` is ``"auto"``, ``"chat"``, ``"plain"`` or the path of a Jinja chat template file
    (see the module docstring). For many prompts, resolve once with :func:`resolve_template`.
    """
    renderer = ChatRenderer(tokenizer, template)
    return renderer.render(messages), renderer.info


__all__ = [
    "PLAIN_TEMPLATE_SPEC",
    "TEMPLATE_NAMES",
    "ChatRenderer",
    "TemplateInfo",
    "render_plain",
    "render_prompt",
    "resolve_template",
]
