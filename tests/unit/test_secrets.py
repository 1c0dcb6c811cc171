import random
import time
from urllib.parse import quote

import pytest

from deploycheck.secrets import Redactor, Secret


def test_secret_never_prints():
    secret = Secret("hunter2-long")
    assert str(secret) == "***" and "hunter2" not in repr(secret) and secret.reveal() == "hunter2-long"
    assert f"{secret}" == "***"


def test_secret_compares_and_hashes_by_value():
    assert Secret("abcd") == Secret("abcd") and Secret("abcd") != Secret("abce") and Secret("abcd") != "abcd"
    assert len({Secret("abcd"), Secret("abcd")}) == 1
    assert Secret("abcd") and not Secret("")


def test_redactor_masks_known_values_url_passwords_and_key_values():
    redact = Redactor(["tok-abcdef"])
    text = "auth tok-abcdef to postgresql://app:pw0rd@db:5432/app?sslmode=require and password=xyz token=abc&x=1"
    assert redact(text) == (
        "auth *** to postgresql://app:***@db:5432/app?sslmode=require and password=*** token=***&x=1"
    )


def test_redactor_scrubs_nested_data():
    redact = Redactor(["s3cr3t-value"])
    assert redact.scrub({"a": ["x s3cr3t-value", {"b": "s3cr3t-value"}], "n": 1}) == {
        "a": ["x ***", {"b": "***"}],
        "n": 1,
    }


def test_redactor_scrubs_keys_and_tuples():
    redact = Redactor(["s3cr3t-value"])
    assert redact.scrub({"url s3cr3t-value": ("s3cr3t-value", 2)}) == {"url ***": ["***", 2]}
    assert redact.scrub_document({"s3cr3t-value": None}) == {"***": None}


def test_values_added_after_use_are_masked():
    redact = Redactor(None)
    assert redact("x later-secret") == "x later-secret"
    redact.add("later-secret")
    assert redact("x later-secret") == "x ***"


def test_known_values_longest_first_short_ignored_and_secret_objects():
    redact = Redactor(["abcd", "abcdefgh", "xyz"])
    redact.add(Secret("from-a-secret"))
    assert redact("abcdefgh abcd xyz from-a-secret") == "*** *** xyz ***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # URL and DSN passwords, also with an empty or %-escaped user name and an unescaped '@' in the password
        ("http://:s3cret@host/x", "http://:***@host/x"),
        ("postgresql://:pw@db/x", "postgresql://:***@db/x"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("https://first%40corp:pa55@host/", "https://first%40corp:***@host/"),
        ("https://u:p@ss@host/p?mail=a@b", "https://u:***@host/p?mail=a@b"),
        ("'https://u:pa/ss@host'", "'https://u:***@host'"),
        ("https://u:pw@host and https://v:pw2@other", "https://u:***@host and https://v:***@other"),
        # key=value pairs in query strings and libpq DSNs, case-insensitive
        ("https://h/x?access_token=abc&x=1", "https://h/x?access_token=***&x=1"),
        ("host=db password='a b c' dbname=app", "host=db password='***' dbname=app"),
        ("PASSWORD=x Passwd=y secret=z TOKEN=t", "PASSWORD=*** Passwd=*** secret=*** TOKEN=***"),
        ("api_key=1 apikey=2 api-key=3 x-api-key=4", "api_key=*** apikey=*** api-key=*** x-api-key=***"),
        ("client_secret=5;refresh_token=6", "client_secret=***;refresh_token=***"),
        ("host=db password = pw dbname=app", "host=db password = *** dbname=app"),
        # Authorization headers, as lines and inside a dict repr or JSON
        ("Authorization: Bearer xyz\nAccept: */*", "Authorization: Bearer ***\nAccept: */*"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic ***"),
        ("Proxy-Authorization: Digest user=a, response=b", "Proxy-Authorization: ***"),
        ("{'authorization': 'Bearer abc', 'accept': 'json'}", "{'authorization': '***', 'accept': 'json'}"),
        ('{"Authorization":"Bearer abc","token":"t","n":1}', '{"Authorization":"***","token":"***","n":1}'),
        ("Headers([('authorization', 'Bearer q')])", "Headers([('authorization', '***')])"),
    ],
)
def test_redactor_masks_credentials_by_their_shape(text, expected):
    assert Redactor()(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "http://host:8080/health and mail a@b",
        "see https://example.com/x?page=2 for details",
        "mytoken=abc notoken=x tokens=5 token_type=bearer",
        "http://[::1]:8080/x",
        "'token' is a required property",
        "Authorization header missing",
        "",
    ],
)
def test_redactor_leaves_ordinary_text_alone(text):
    assert Redactor(["unrelated-secret"])(text) == text


def test_known_values_are_masked_percent_encoded_in_any_case():
    value = "p@ss/w:rd 1"
    redact = Redactor([value])
    encoded = quote(value, safe="")
    text = f"https://h/cb?state={encoded}&next={encoded.lower()}#{value}"
    assert redact(text) == "https://h/cb?state=***&next=***#***"


TRICKY = [
    "auth tok-abcdef to postgresql://app:pw0rd@db:5432/app?password=xyz token=abc&x=1",
    "https://u:p@ss@host/p?e=a@b http://:@h password='' token=\"a b\"",
    "Authorization: Bearer ***\n{'authorization': '***', \"token\": \"***\"}",
    '\'://&://://@://?x  api-key="{x///http),/"Basic  }Bearer b@://xp@ss/w:rdtoken)token://://@',
    "token=x://u:a@h ://u:token=a//b&c@d ://u:x'token':'a b'@c",
]
FUZZ_PIECES = [
    *("://", ":", "@", "/", "//", "?", "#", "&", ";", "=", " ", "\n", "\xa0", "'", '"', "\\", "<", ">", "(", ")", ","),
    *("a", "_", "-", "http", "token", "password", "api-key", "authorization", "Authorization: ", "Bearer ", "***"),
    *("%40", "p%40ss%2Fw%3Ard", "tok-abcdef", "p@ss/w:rd", "s3cret value", "':", '":', "'token'", '"token"'),
]
VALUES = ["tok-abcdef", "p@ss/w:rd", "s3cret value"]


@pytest.mark.parametrize("text", TRICKY)
def test_redaction_is_idempotent(text):
    redact = Redactor(VALUES)
    once = redact(text)
    assert redact(once) == once
    assert redact.scrub(redact.scrub([once])) == [once]


def test_redaction_is_idempotent_and_leaks_nothing_on_random_text():
    redact = Redactor(VALUES)
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 16)))
        once = redact(text)
        assert redact(once) == once, text
        assert not any(value in once for value in VALUES), text


MEGABYTE = 10**6
ADVERSARIAL = {
    "plain": "a" * MEGABYTE,
    "a:": "a:" * (MEGABYTE // 2),
    "scheme only": "http://" + "x" * MEGABYTE,
    "user:": "http://a:" * (MEGABYTE // 9),
    "@ and :": "a@b:c" * (MEGABYTE // 5),
    "key=": "token=" * (MEGABYTE // 6),
    "quoted key": '"token": "' * (MEGABYTE // 10),
    "authorization:": "authorization:" * (MEGABYTE // 14),
    "secrets": ("tok-abcdef http://u:pw@h password=x " * (MEGABYTE // 36)),
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_a_megabyte_is_redacted_in_well_under_a_second(text):
    redact = Redactor(["tok-abcdef", "a" * 100 + "b"])
    started = time.perf_counter()
    redacted = redact(text)
    assert time.perf_counter() - started < 1
    assert "tok-abcdef" not in redacted and "pw@" not in redacted
