"""The SES ``Source`` for any tenant name is a header SES accepts: ASCII only, the name given back exactly by a mail
reader (issue 11, item 12)."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest

from billing.adapters.messaging import SesMailer, source

NAMES = ["Acme Cloud", "云账单", "Рога и копыта", 'Bob "the Builder" Ltd', "O'Brien <Sales>, Inc.", "Zoë\\Co"]


class Client:
    def send_email(self, **request):
        self.request = request
        return {"MessageId": "m-1"}


@pytest.mark.parametrize("name", NAMES)
def test_the_source_is_ascii_and_reads_back_as_the_tenants_name(name):
    header = source(name, "billing@example.com")
    assert header.isascii() and "\n" not in header
    shown, address = parseaddr(header)
    assert address == "billing@example.com"
    assert str(make_header(decode_header(shown))) == name


def test_the_mailer_sends_the_encoded_source():
    client = Client()
    SesMailer(client, "billing@example.com").send("to@example.com", "S", "t", "<p>h</p>", "云账单", None)
    assert client.request["Source"] == "=?utf-8?b?5LqR6LSm5Y2V?= <billing@example.com>"
