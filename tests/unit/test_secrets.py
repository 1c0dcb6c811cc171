import base64
import json
import random
import re
import time
from urllib.parse import quote, quote_plus

import pytest
import yaml

from deploycheck import text
from deploycheck.config.loader import load_environment
from deploycheck.credentials import environment_redactor
from deploycheck.secrets import Redactor, Secret, basic_credentials


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


# ---------------------------------------------------------------------------------------------------------------
# Every form the suite encodes a secret in (issue 20)

AWKWARD = 'pa"ss\\wo%rd+/x9-Lantern'  # a quote, a backslash, and what URL encodings change


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


@pytest.mark.parametrize(
    "shown",
    [
        AWKWARD,
        quote(AWKWARD, safe=""),
        quote(AWKWARD),
        quote_plus(AWKWARD),
        re.sub("%..", lambda escape: escape[0].lower(), quote(AWKWARD, safe="")),  # hex digits in either case
        json.dumps(AWKWARD)[1:-1],
        json.dumps(json.dumps(AWKWARD))[1:-1],  # a JSON body quoted in a JSON string
        json.dumps(json.dumps(json.dumps(AWKWARD)))[1:-1],
        repr(AWKWARD)[1:-1],
        json.dumps(AWKWARD + "é")[1:-1],  # \u escapes
    ],
)
def test_a_secret_is_masked_in_every_encoding_the_suite_uses(shown):
    redacted = Redactor([AWKWARD, AWKWARD + "é"])(f"before {shown} after")
    assert redacted.startswith("before ") and redacted.endswith(" after")
    assert "Lantern" not in redacted and "pa" not in redacted.removeprefix("before ")


@pytest.mark.parametrize("prefix", ["", "u:", "ab:", "Bearer ", "user:", "x"])
def test_a_secret_is_masked_inside_base64_text_at_any_alignment(prefix):
    encoded = b64(prefix + AWKWARD + " and more")
    left, right = Redactor([AWKWARD])(encoded).split("***")
    # Every character made of the secret's bits only is masked: what is left at either end touches at most one
    # character that mixes a few of its bits with the text around it.
    secret_starts, secret_ends = len(prefix.encode()) * 8, (len(prefix) + len(AWKWARD.encode())) * 8
    assert encoded.startswith(left) and len(left) <= -(-secret_starts // 6)
    assert encoded.endswith(right) and len(right) <= len(encoded) - secret_ends // 6


def test_basic_auth_is_masked_whole_and_the_user_stays():
    redact = Redactor()
    redact.add_basic("smoke", "pw-Lantern-77")
    header = "Basic " + basic_credentials("smoke", "pw-Lantern-77")
    assert header == "Basic " + b64("smoke:pw-Lantern-77")
    assert redact(f"sent [{header}] as smoke:pw-Lantern-77") == "sent [Basic ***] as smoke:***"
    # A user without a password (http://TOKEN@host) is sent as Basic too.
    redact.add_basic("tok-only-user", "")
    assert redact(b64("tok-only-user:")) == "***"


def test_a_url_password_is_also_masked_as_sent_decoded():
    redact = Redactor(["urlpw%2FLantern%2B55"])
    assert redact("urlpw/Lantern+55 and urlpw%2FLantern%2B55") == "*** and ***"


def test_the_run_s_credentials_come_from_urls_and_username_password_sections(tmp_path):
    document = {
        "environment": "staging",
        "prometheus": {"url": "http://prom:9090", "username": "ops", "password": "${PROM_PASSWORD}"},
        "notifications": {"webhooks": [{"url": "https://hook:hookpw-Falcon@hooks.example.com/x"}]},
        "services": {"api": {"url": "http://smoke:${URL_PASSWORD}@api.example.com"}},
    }
    (tmp_path / "staging.yaml").write_text(yaml.safe_dump(document))
    environ = {"PROM_PASSWORD": 'prom"Pa\\ss', "URL_PASSWORD": "urlpw%2FLantern"}
    redact = environment_redactor(load_environment(tmp_path, "staging", environ=environ))
    sent = [b64('ops:prom"Pa\\ss'), b64("smoke:urlpw/Lantern"), b64("hook:hookpw-Falcon")]
    assert redact(" ".join(sent)) == "*** *** ***"


def test_a_text_is_redacted_before_it_is_cut():
    secret = "long-secret-Marble-Sparrow-Marble-0921"
    body = "x" * 150 + secret + "y" * 100
    assert secret[:10] in text.cut(body, 200)  # cut alone keeps the start of what it does not know
    redact = Redactor([secret])
    text.redact_before_cutting(redact)
    try:
        cut = text.cut(body, 200)
    finally:
        text.redact_before_cutting(None)
    assert cut.startswith("x" * 150 + "***yyy") and "long-s" not in cut and len(cut) <= 200
    assert text.cut("short", 200) == "short"  # a text that is not cut is redacted where it leaves the suite


def test_many_secrets_and_forms_stay_fast_on_a_megabyte():
    redact = Redactor([f"secret-{index}-{AWKWARD}" for index in range(20)])
    prose = "The service answered 200 in 35 ms; version 1.4.2 (build 2024-05-01).\n" * 15_000
    started = time.perf_counter()
    redact(prose)
    assert time.perf_counter() - started < 1


def test_a_piece_of_a_secret_left_at_someone_else_s_cut_is_masked():
    # pytest shortens a long repr in its middle with "...": the start of a secret before the mark, or its end after.
    redact = Redactor(["longtok-Marble-Sparrow-0921", AWKWARD]).after_foreign_cut
    assert redact("key=longtok-Mar...row-0921 end") == "key=***...*** end"
    assert redact("x…Sparrow-0921") == "x…***"
    escaped = json.dumps(json.dumps(AWKWARD)[1:-1])[1:-1]
    assert redact(repr(escaped[:9] + "..." + escaped[-12:])) == "'***...***'"
    # Pieces shorter than 4 characters, and pieces away from a cut, stay as they are.
    assert redact("lon... and longtok-Mar and ...") == "lon... and longtok-Mar and ..."


@pytest.mark.parametrize("unit", ["...", "longtok-Marb...", "Sparrow...0921 ", "The service answered... ok\n"])
def test_pieces_at_cuts_are_found_in_linear_time(unit):
    redact = Redactor(["longtok-Marble-Sparrow-0921", AWKWARD])
    text = unit * (MEGABYTE // len(unit))
    started = time.perf_counter()
    redact.after_foreign_cut(text)
    assert time.perf_counter() - started < 2
