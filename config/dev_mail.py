"""Development email: every message a `.eml` file in EMAIL_FILE_PATH (`.data/mail/`), and a page that lists and
shows them at `/dev/mail/` on the bare host (DEBUG only), instead of hundreds of lines on the console.

A `.eml` file also opens in any mail client. Production sends through SMTP (config/settings/production.py).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage as ParsedMessage
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

# The names this backend writes: no path separators, so a name from a URL cannot leave the folder.
MAIL_FILE = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{6}-[0-9a-f]{8}\.eml$")
LISTED = 200


class MailFolderBackend(BaseEmailBackend):
    """Writes each message to its own `.eml` file, named by the time it was sent."""

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        folder = mail_folder()
        folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:8]}.eml"
            (folder / name).write_bytes(message.message().as_bytes(linesep="\n"))
        return len(email_messages)


def mail_folder() -> Path:
    return Path(settings.EMAIL_FILE_PATH)


@dataclass(frozen=True)
class Mail:
    name: str
    sent: datetime
    sender: str
    to: str
    subject: str
    body: str


def _read(path: Path) -> Mail:
    parsed: ParsedMessage = message_from_bytes(path.read_bytes(), policy=policy.default)
    part = parsed.get_body(preferencelist=("plain", "html"))
    sent = datetime.strptime(path.name[:22], "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    return Mail(name=path.name, sent=sent, sender=str(parsed["From"] or ""), to=str(parsed["To"] or ""),
                subject=str(parsed["Subject"] or "(no subject)"), body=part.get_content() if part else "")


def _require_debug() -> None:
    if not settings.DEBUG:
        raise Http404("The mail viewer is for development only.")


@login_not_required
def mail_list(request: HttpRequest) -> HttpResponse:
    """The newest messages first."""
    _require_debug()
    folder = mail_folder()
    names = sorted((path.name for path in folder.glob("*.eml") if MAIL_FILE.match(path.name)), reverse=True)
    mails = [_read(folder / name) for name in names[:LISTED]]
    return render(request, "dev/mail_list.html", {"mails": mails, "total": len(names), "folder": folder})


@login_not_required
def mail_detail(request: HttpRequest, name: str) -> HttpResponse:
    _require_debug()
    path = mail_folder() / name
    if not MAIL_FILE.match(name) or not path.is_file():
        raise Http404("No such message.")
    return render(request, "dev/mail_detail.html", {"mail": _read(path)})
