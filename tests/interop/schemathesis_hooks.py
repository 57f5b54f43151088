"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by test_openapi.py).

HTTP itself forbids control characters in header values (RFC 9110 §5.5); swift-nio refuses
such a request before any route runs (400, empty body, Connection: close). Generated
headers are kept within what HTTP allows, so every check is about the API, not the parser.
The raw-socket attack corpus (Tests/AttackTests) covers the forbidden bytes separately.
"""

import schemathesis


def _valid_field_value(value) -> bool:
    text = str(value)
    return all(ch == "\t" or 0x20 <= ord(ch) <= 0x7E or 0x80 <= ord(ch) <= 0xFF for ch in text) and text == text.strip()


@schemathesis.hook
def filter_headers(context, headers):
    return headers is None or all(_valid_field_value(value) for value in headers.values())
