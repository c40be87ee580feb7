"""Telegram Bot API over plain HTTP: messages, photos, documents, commands.

Decisions:

* `requests` against `TELEGRAM_API_URL` (default https://api.telegram.org), every method
  a POST to `<base>/bot<token>/<method>`. The token is part of the URL, so no error
  message here ever carries the URL or the library's exception text: they name the
  method only.
* A 429 (`Retry-After`, or `parameters.retry_after` in the JSON body) and 5xx answers are
  retried through `radiator_assets.delivery.retry` with an injected `sleep`.
* Commands come from `getUpdates` polled with an offset (the sensor's cursor), not a
  webhook or a long-running bot process; only chats in the allowed list are obeyed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from radiator_assets.delivery.retry import (
    RetryableError,
    RetryPolicy,
    call_with_retry,
    parse_retry_after,
)

log = logging.getLogger(__name__)

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
COMMANDS = ("sync", "report", "status")
#: Telegram's limits: a message's text, a caption
MAX_TEXT = 4096
MAX_CAPTION = 1024


class TelegramError(RuntimeError):
    """The Bot API refused a call (the message names the method, never the token)."""


@dataclass
class TelegramClient:
    """The Bot API methods radiator uses."""

    token: str
    api_url: str = DEFAULT_TELEGRAM_API_URL
    timeout: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def call(
        self,
        method: str,
        data: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """POST `method` (form fields, multipart when `files`); its `result`."""
        url = f"{self.api_url.rstrip('/')}/bot{self.token}/{method}"
        return call_with_retry(
            lambda: self._once(method, url, data, files),
            f"Telegram {method}",
            self.policy,
            self.sleep,
        )

    def _once(self, method: str, url: str, data: Mapping[str, Any], files: Any) -> Any:
        try:
            response = self.session.post(url, data=dict(data), files=files, timeout=self.timeout)
        except requests.RequestException as exc:
            # the exception's text holds the URL, and so the token
            raise RetryableError(f"Telegram {method}: {type(exc).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 429 or response.status_code >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = (body.get("parameters") or {}).get("retry_after")
            raise RetryableError(f"Telegram {method} answered {response.status_code}", wait)
        if not body.get("ok"):
            description = str(body.get("description", ""))[:200].replace(self.token, "***")
            raise TelegramError(f"Telegram {method} answered {response.status_code}: {description}")
        return body.get("result")

    def send_message(self, chat_id: int, text: str) -> Any:
        return self.call("sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT]})

    def send_photo(self, chat_id: int, path: Path, caption: str = "") -> Any:
        return self._upload("sendPhoto", "photo", chat_id, path, caption, "image/png")

    def send_document(self, chat_id: int, path: Path, caption: str = "") -> Any:
        return self._upload("sendDocument", "document", chat_id, path, caption, "text/csv")

    def _upload(
        self, method: str, part: str, chat_id: int, path: Path, caption: str, mime: str
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


@dataclass(frozen=True)
class Command:
    """A bot command from a chat: `name` without the slash or the bot's @name."""

    update_id: int
    chat_id: int
    name: str
    args: str = ""


def parse_command(update: Mapping[str, Any]) -> Command | None:
    """The command of a message update (`/sync`, `/report@radiator_bot now`), or None."""
    message = update.get("message") or {}
    text = str(message.get("text") or "").strip()
    chat_id = (message.get("chat") or {}).get("id")
    if not text.startswith("/") or chat_id is None:
        return None
    head, _, args = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    return Command(int(update["update_id"]), int(chat_id), name, args.strip())


def next_offset(updates: Iterable[Mapping[str, Any]], offset: int | None) -> int | None:
    """The offset that confirms every update seen: the largest update_id plus one."""
    ids = [int(u["update_id"]) for u in updates]
    return max(ids) + 1 if ids else offset


def parse_chat_ids(text: str) -> tuple[int, ...]:
    """`-100123, 42` -> (-100123, 42); a clear error for anything else."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a Telegram chat id (an integer)") from None
    return tuple(ids)
