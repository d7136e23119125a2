"""A PII corpus: secrets that must never leave, in every place they hide, and decoys that must survive.

Used by the collector tests, the app-side redactor tests and bench/redaction.py alike.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> (mask token expected, [values]); each value must never appear in anything exported.
SECRETS: dict[str, tuple[str, list[str]]] = {
    "EMAIL": ("<EMAIL>", ["jane.doe@example.com", "o'brien.k+llm@mail.example.co.uk".replace("'", ""), "support-team@acme-corp.io", "x_y.z@sub.domain.org"]),
    "PHONE": ("<PHONE>", ["+1 202-555-0143", "+1 (202) 555-0143", "(415) 555-2671", "415-555-2671", "415.555.2671", "+44 20 7946 0958", "020 7946 0958",
                          "+49 30 12345678", "030 1234 5678", "+33 6 12 34 56 78", "06 12 34 56 78", "+91 98765 43210", "+61 2 9374 4000"]),
    "CARD": ("<CARD>", ["4111 1111 1111 1111", "4242424242424242", "5555-5555-5555-4444", "5105105105105100", "3782 822463 10005", "378282246310005",
                        "6011111111111117", "3530111333300000", "2223003122003222"]),
    "US_SSN": ("<SSN>", ["123-45-6789", "078-05-1120", "219-09-9999"]),
    "IBAN": ("<IBAN>", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "ES9121000418450200051332"]),
    "IPV4": ("<IP>", ["192.168.1.23", "10.0.0.7", "203.0.113.45", "8.8.8.8"]),
    "IPV6": ("<IP>", ["2001:db8:85a3::8a2e:370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "fe80::1ff:fe23:4567:890a"]),
    "OPENAI_KEY": ("<API_KEY>", ["sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f", "sk-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e"]),
    "ANTHROPIC_KEY": ("<API_KEY>", ["sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa-AAAA"]),
    "AWS_ACCESS_KEY": ("<API_KEY>", ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"]),
    "GITHUB_TOKEN": ("<API_KEY>", ["ghp_1A2b3C4d5E6f7G8h9I0j1K2l3M4n5O6p7Q8r", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"]),
    "SLACK_TOKEN": ("<API_KEY>", ["xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"]),
    "GOOGLE_API_KEY": ("<API_KEY>", ["AIzaSyD-1234567890abcdefghijklmnopqrstu"]),
    "JWT": ("<JWT>", ["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"]),
    "BEARER_TOKEN": ("<TOKEN>", ["Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0"]),
    "URL_CREDENTIALS": ("<CREDENTIALS>", ["postgres://admin:s3cr3tPassw0rd@db.internal:5432/app", "https://deploy:hunter2hunter2@git.example.com/repo.git"]),
    # obfuscated and encoded forms
    "EMAIL_OBFUSCATED": ("<EMAIL>", ["jane.doe at example.com", "jane.doe[at]example[dot]com", "jane.doe (at) example (dot) com",
                                     "jane at example dot com", "Jane.Doe AT Example.COM", "jane.doe%40example.com", "jane.doe%2540example.com"]),
    "BASE64_DATA_URL": ("<BASE64>", ["data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAASUVORK5CYII=",
                                     "data:text/plain;base64,amFuZS5kb2VAZXhhbXBsZS5jb20gKzQ0IDIwIDc5NDYgMDk1OA=="]),
}

# What must not appear anywhere for a value (the value itself, or its secret part).
def needles(kind: str, value: str) -> list[str]:
    if kind == "URL_CREDENTIALS":
        return [value.split("://", 1)[1].split("@", 1)[0]]  # user:password
    if kind == "BEARER_TOKEN":
        return [value.split(" ", 1)[1]]
    return [value]


TEMPLATES = [
    "Hi, please reach me at {v} about my refund.",
    "{v}",
    'tool args: {{"query": "status", "contact": "{v}"}}',
    "line 1\nline 2 has {v} in it\nline 3",
    "Customer wrote: my details are {v}. Thanks!",
]

# Things a reader needs that look a bit like PII: they must survive redaction.
DECOYS = [
    "gpt-4o-2024-08-06", "claude-sonnet-4-5", "text-embedding-3-small", "v2.3.1", "release 2026.11.1",
    "2026-11-23", "2026-11-23T10:15:30Z", "order ORD-2024-118233", "invoice INV-88123", "$1,299.00", "12.50 USD",
    "port 8080", "localhost:4317", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "ticket #48213",
    "HTTP 503", "retry in 30s", "1732329600", "temperature 0.7", "top_p=0.95", "chunk doc-17#p3", "score 0.8731",
    "budget 4096 tokens", "page 12 of 40", "3 items x 12.99", "sku A-1234-XL", "room 404", "chapter 3.2.1",
    # near the obfuscation and blob detectors
    "available at docs.example.com", "meet at 10.30", "v2.3.1 at build 7", "look at the data",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "base64 encoding",
]

PLACES = ["content", "unknown_key", "event_message", "event_stacktrace", "span_name", "url", "resource", "nested_list", "url_encoded"]


@dataclass(frozen=True)
class Case:
    id: int
    kind: str
    value: str
    text: str
    place: str

    @property
    def token(self) -> str:
        return SECRETS[self.kind][0]

    def needles(self) -> list[str]:
        return needles(self.kind, self.value)


def cases() -> list[Case]:
    """Every value of every kind in every place, templates rotating."""
    out: list[Case] = []
    i = 0
    for kind, (_token, values) in SECRETS.items():
        for value in values:
            for place in PLACES:
                text = TEMPLATES[i % len(TEMPLATES)].format(v=value)
                out.append(Case(i, kind, value, text, place))
                i += 1
    return out


def decoy_texts() -> list[tuple[str, str]]:
    return [(d, TEMPLATES[i % len(TEMPLATES)].format(v=d)) for i, d in enumerate(DECOYS)]
