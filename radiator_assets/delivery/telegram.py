"""Telegram Bot API over plain HTTP: messages, photos, documents, commands.

Decisions:

* `requests` against `TELEGRAM_API_URL` (default https://api.telegram.org), every method
  a POST to `<base>/bot<token>/<method>`. The token is part of the URL, so no error
  message here ever carries the URL or the library's exception text: they name the
  method only.
* A 429 (`Retry-After`, or `parameters.retry_after` in the JSON body) and 5xx answers are
  retried through `radiator_assets.delivery.retry` with an injected `sleep`.
* Commands come from `getUpdates` polled with an offset (the sensor's cursor), not a
  webhook or a long-running bot process; only chats in the allowed list are obeyed, and
  only commands addressed to no bot or to this one (`/sync@<its username>`).
* A chat is an integer id or a public `@username` (channels, public groups).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from radiator_assets.delivery.retry import (
    Deadline,
    RetryableError,
    RetryPolicy,
    call_with_retry,
    parse_retry_after,
)
from radiator_assets.settings import ChatId, parse_chat_ids

__all__ = ["COMMANDS", "ChatId", "Command", "TelegramClient", "TelegramError", "parse_chat_ids"]

log = logging.getLogger(__name__)

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
COMMANDS = ("sync", "report", "status")
#: answered with the list of commands
HELP_COMMANDS = ("help", "start")
#: Telegram's limits: a message's text, a caption
MAX_TEXT = 4096
MAX_CAPTION = 1024


#: Telegram's answers that concern the token, not a chat: nothing is skipped for them
TOKEN_STATUSES = frozenset({401, 404})


class TelegramError(RuntimeError):
    """The Bot API refused a call (the message names the method, never the token);
    `status` is its HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    @property
    def for_good(self) -> bool:
        """A refusal that only concerns its chat and will not change by itself (403: the
        bot was removed; 400: a bad chat or file; 413: too large)."""
        return 400 <= self.status < 500 and self.status not in TOKEN_STATUSES


@dataclass
class TelegramClient:
    """The Bot API methods radiator uses. With a `deadline` (a sensor tick's), each
    request's timeout and each retry's wait end before it."""

    token: str
    api_url: str = DEFAULT_TELEGRAM_API_URL
    timeout: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)
    deadline: Deadline | None = None

    def call(
        self,
        method: str,
        data: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """POST `method` (form fields, multipart when `files`); its `result`."""
        url = f"{self.api_url.rstrip('/')}/bot{self.token}/{method}"
        return call_with_retry(
            lambda: self._once(method, url, data, files), self.policy, self.sleep, self.deadline
        )

    def _once(self, method: str, url: str, data: Mapping[str, Any], files: Any) -> Any:
        what = f"Telegram {method}"
        timeout = (
            self.timeout if self.deadline is None else self.deadline.timeout(self.timeout, what)
        )
        try:
            response = self.session.post(url, data=dict(data), files=files, timeout=timeout)
        except requests.RequestException as exc:
            # the exception's text holds the URL, and so the token
            raise RetryableError(f"{what}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 429 or response.status_code >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = (body.get("parameters") or {}).get("retry_after")
            raise RetryableError(f"{what} answered {response.status_code}", wait)
        if not body.get("ok"):
            description = str(body.get("description", ""))[:200].replace(self.token, "***")
            raise TelegramError(
                f"{what} answered {response.status_code}: {description}", response.status_code
            )
        return body.get("result")

    def get_me(self) -> dict[str, Any]:
        return dict(self.call("getMe", {}) or {})

    def send_message(self, chat_id: ChatId, text: str) -> Any:
        return self.call("sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT]})

    def send_photo(self, chat_id: ChatId, path: Path, caption: str = "") -> Any:
        return self._upload("sendPhoto", "photo", chat_id, path, caption, "image/png")

    def send_document(self, chat_id: ChatId, path: Path, caption: str = "") -> Any:
        return self._upload("sendDocument", "document", chat_id, path, caption, "text/csv")

    def _upload(
        self, method: str, part: str, chat_id: ChatId, path: Path, caption: str, mime: str
    ) -> Any:
        files = {part: (path.name, path.read_bytes(), mime)}
        data: dict[str, Any] = {"chat_id": chat_id}
        if caption:
            data["caption"] = caption[:MAX_CAPTION]
        return self.call(method, data, files)

    def get_updates(self, offset: int | None) -> list[dict[str, Any]]:
        """Updates from `offset` on (no long polling: a sensor tick must return)."""
        data: dict[str, Any] = {"timeout": 0, "allowed_updates": '["message"]'}
        if offset is not None:
            data["offset"] = offset
        return list(self.call("getUpdates", data) or [])


# --------------------------------------------------------------------------- commands

#: `/name` or `/name@bot_username`, then a space or the end (Telegram's bot_command)
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")


@dataclass(frozen=True)
class Command:
    """A bot command from a chat: `name` (lower case) without the slash; `bot` the
    username it was addressed to (`/sync@radiator_bot`), if any; `sent_at` the message's
    `date` (epoch seconds); `chat_username` the chat's public @name, if it has one."""

    update_id: int
    chat_id: int
    name: str
    args: str = ""
    bot: str | None = None
    sent_at: int | None = None
    chat_username: str | None = None

    def allowed(self, chats: Iterable[ChatId]) -> bool:
        """Whether the chat is one of `chats` (by id, or by its @username)."""
        username = f"@{self.chat_username}".lower() if self.chat_username else None
        return any(
            chat == self.chat_id or (isinstance(chat, str) and chat.lower() == username)
            for chat in chats
        )


def parse_command(update: Mapping[str, Any]) -> Command | None:
    """The command of a message update (`/sync`, `/report@radiator_bot now`), or None
    for any other text (`/var/log is full` is not a command)."""
    message = update.get("message") or {}
    text = str(message.get("text") or "").strip()
    chat = message.get("chat") or {}
    found = _COMMAND.match(text)
    if found is None or chat.get("id") is None:
        return None
    return Command(
        int(update["update_id"]),
        int(chat["id"]),
        found.group(1).lower(),
        text[found.end() :].strip(),
        found.group(2),
        message.get("date"),
        chat.get("username"),
    )


def next_offset(updates: Iterable[Mapping[str, Any]], offset: int | None) -> int | None:
    """The offset that confirms every update seen: the largest update_id plus one."""
    ids = [int(u["update_id"]) for u in updates]
    return max(ids) + 1 if ids else offset
