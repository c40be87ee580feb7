"""A logging filter that takes the configured secrets out of every record.

Decisions:

* **On the handlers, not on loggers.** A filter on a logger sees only what is logged to
  that very logger, not what its children propagate; a handler's filter sees every record
  the handler writes (urllib3's "POST /bot<token>/sendMessage" at DEBUG included). The
  `radiator` command installs one on its console and its log file.
* **The record is rewritten, not dropped**: its message (arguments merged in), its
  traceback text and its stack are redacted in place, so every later handler writes the
  redacted text too. Dagster's own records are plain `LogRecord`s with a string message,
  so the same filter is safe on a handler that also carries a run's log lines.
* **Which secrets**: `TELEGRAM_BOT_TOKEN`, `TRACKER_TOKEN` and
  `GOOGLE_SHEETS_CREDENTIALS_PATH` as configured (`configured_secrets`); a setting that does
  not validate contributes nothing (its command reports that error itself).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "***"
#: shorter values are not worth hiding (and would redact ordinary words)
MIN_SECRET_LENGTH = 6


class RedactSecrets(logging.Filter):
    """Replaces each secret by `***` in a record's message, traceback and stack."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        found = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # longest first: a secret that contains another is replaced whole
        self.secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configured_secrets() -> list[str]:
    """The bot token, the Tracker token and the key file's path, as configured now."""
    from pydantic import ValidationError

    from radiator_assets.settings import DeliverySettings, Settings

    secrets: list[str] = []
    try:
        delivery = DeliverySettings()
    except ValidationError:
        pass
    else:
        for value in (delivery.telegram_token, delivery.sheets_credentials_path):
            if value is not None:
                secrets.append(value.get_secret_value())
    try:
        token = Settings().tracker_token
    except ValidationError:
        pass
    else:
        if token is not None:
            secrets.append(token.get_secret_value())
    return secrets
