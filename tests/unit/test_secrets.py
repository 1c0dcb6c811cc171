from deploycheck.secrets import Redactor, Secret


def test_secret_never_prints():
    secret = Secret("hunter2-long")
    assert str(secret) == "***" and "hunter2" not in repr(secret) and secret.reveal() == "hunter2-long"
    assert f"{secret}" == "***"


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
