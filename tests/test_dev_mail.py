"""Development email (config/dev_mail.py): each message a .eml file in the data folder, never on the console, and
readable at /dev/mail/ on the bare host while DEBUG is on."""

from __future__ import annotations

import subprocess
import sys
from email import message_from_bytes, policy

import pytest
from django.core.mail import send_mail

from tests.test_local_servers import ROOT, _clean_env

BACKEND = "config.dev_mail.MailFolderBackend"


@pytest.fixture
def mail_folder(settings, tmp_path):
    settings.EMAIL_BACKEND = BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail"


def test_development_settings_write_emails_to_the_data_folder(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND); print(s.EMAIL_FILE_PATH)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=_clean_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings.dev"))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [BACKEND, str(tmp_path / "mail")]


def test_each_email_is_a_file_a_mail_client_opens_and_nothing_is_printed(mail_folder, capsys):
    sent = send_mail("[Bellwether] New critical task", "Call Lakewood Freight today.", None,
                     ["csm1@acme.example"])
    send_mail("[Bellwether] Your work for Monday", "3 tasks due.", None, ["csm2@acme.example"])

    files = sorted(mail_folder.glob("*.eml"))
    assert sent == 1 and len(files) == 2
    first = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert first["Subject"] == "[Bellwether] New critical task"
    assert first["To"] == "csm1@acme.example"
    assert first.get_body().get_content().strip() == "Call Lakewood Freight today."
    assert capsys.readouterr().out == ""


def test_the_mail_viewer_lists_the_newest_first_and_shows_one(mail_folder, settings, public_client):
    settings.DEBUG = True
    send_mail("First", "The first body.", None, ["a@acme.example"])
    send_mail("Second", "The second body.", None, ["b@acme.example"])

    listing = public_client.get("/dev/mail/")

    assert listing.status_code == 200
    page = listing.content.decode()
    assert page.index("Second") < page.index("First")
    name = sorted(path.name for path in mail_folder.glob("*.eml"))[0]
    shown = public_client.get(f"/dev/mail/{name}")
    assert shown.status_code == 200
    assert "The first body." in shown.content.decode() and "a@acme.example" in shown.content.decode()


@pytest.mark.parametrize("name", ["..%2F..%2Fsettings.py", "nothing.eml", "20260101-000000-000000-zzzzzzzz.eml"])
def test_the_mail_viewer_shows_only_its_own_files(mail_folder, settings, public_client, name):
    settings.DEBUG = True
    (mail_folder / "..").mkdir(parents=True, exist_ok=True)

    assert public_client.get(f"/dev/mail/{name}").status_code == 404


def test_the_mail_viewer_is_not_there_without_debug(mail_folder, settings, public_client):
    settings.DEBUG = False
    send_mail("Private", "A body.", None, ["a@acme.example"])

    assert public_client.get("/dev/mail/").status_code == 404
    name = next(mail_folder.glob("*.eml")).name
    assert public_client.get(f"/dev/mail/{name}").status_code == 404
