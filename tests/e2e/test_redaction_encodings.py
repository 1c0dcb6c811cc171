"""Every encoding of a secret is masked, before anything is cut (issue 20, section 6).

A server that echoes the whole request back gets a URL's `user:password@` (which the suite and httpx send as
`Basic base64(user:password)`), a header token holding `"`, `\\`, `%`, `+` and `/` (echoed JSON-escaped), a
Prometheus basic-auth password with the same characters (sent by requests as Basic auth), and a long token placed
in the answer right where the suite cuts a body to size (health and version messages, and a flow's excerpt, in JSON
and in text). The run writes every report; then no file under the reports folder, no Allure result or attachment,
no HTML report (its embedded data decoded), no webhook body (JSON and Slack) and no line of the terminal holds a
secret in any form the suite encodes it in, nor the first or last 6 characters of any such form: no piece of a
secret survives a cut, ours (redacted first) or pytest's (which cuts long values in the middle).
"""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus, unquote

from tests.conftest import REPO, write_checks, write_environment
from tests.e2e.test_redaction_everywhere import generate_html_report, texts_of

pytest_plugins = ["tests.webhook_receiver", "tests.hostile_servers"]

USER, PROMETHEUS_USER = "smoke", "ops"
SECRETS = {
    "DC_URL_PASSWORD": "urlpw%2FLantern%2B5531",  # written percent-encoded in the URL, sent decoded
    "DC_HEADER_TOKEN": 'hdr"Tok\\en%2F+/Quill-4471',
    "DC_PROM_PASSWORD": 'prom"Pa\\ss%/+Wharf-8812',
    "DC_LONG_TOKEN": "longtok-" + "Marble-Sparrow-" * 3 + "0921",
    "DC_HOOK_TOKEN": "hooktok-Amber-Falcon-19",
}
PREFIX_CHARS = 6  # the rule: no 6 characters that start a secret, or a form of one, appear anywhere
EXCERPT_CHARS = 200  # deploycheck.kinds.http.rules.EXCERPT_CHARS and deploycheck.flows.runner.EXCERPT_CHARS


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def encodings(value: str) -> set[str]:
    """The forms the suite or its clients put a value in, computed here independently of deploycheck.secrets."""
    escaped = json.dumps(value)[1:-1]
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        escaped,
        json.dumps(escaped)[1:-1],  # JSON in a JSON string: an echoed body quoted in a JSON excerpt
        repr(value)[1:-1],
    }


URL_PASSWORD = unquote(SECRETS["DC_URL_PASSWORD"])
BASIC = {USER: URL_PASSWORD, PROMETHEUS_USER: SECRETS["DC_PROM_PASSWORD"]}


def needles() -> dict[str, str]:
    """What must never show -> what it is: the first and the last 6 characters of every form of every secret, and
    the first 6 of the part of `user:password` (plain and base64) that comes after the user (no secret)."""
    every = [form for value in [*SECRETS.values(), URL_PASSWORD] for form in encodings(value)]
    found = {form[:PREFIX_CHARS]: form for form in every}
    found.update({form[-PREFIX_CHARS:]: form for form in every})  # what a cut in the middle keeps of the end
    for user, password in BASIC.items():
        encoded = basic(user, password)
        after_user = -(-8 * len(f"{user}:") // 6)  # the first base64 character made of the password's bits only
        found[encoded[after_user : after_user + PREFIX_CHARS]] = f"Basic {encoded}"
        found[f"{user}:{password}"[: len(user) + 1 + PREFIX_CHARS]] = f"{user}:{password}"
    return found


NEEDLES = needles()


def leaks(text: str) -> list[str]:
    """Each secret form whose start is in the text, also once HTML/XML entities are read."""
    texts = (text, html.unescape(text))
    return [form for needle, form in NEEDLES.items() if any(needle in each for each in texts)]


def at_the_cut(before_token: str, offset: int) -> int:
    """The pad that puts the long token `offset` characters before the end of what a 200-character cut keeps (the
    cut keeps about 173 characters: its note, "… (1,234 characters in all)", takes the rest)."""
    return max(0, EXCERPT_CHARS - 27 - offset - len(before_token))


def health_path(text: bool, offset: int) -> str:
    base = "/text/health" if text else "/health"
    # Where the token sits in the excerpt: after '{"pad":"' + pad + '","request":"GET ' (JSON) or the pad + "GET ".
    before = ("GET " if text else '{"pad":"","request":"GET ') + f"{base}?status=503&pad=NNN&key="
    return f"{base}?status=503&pad={at_the_cut(before, offset):03d}&key=${{DC_LONG_TOKEN}}"


def flow(text: bool, offset: int) -> dict[str, object]:
    base = "/text/flow" if text else "/flow"
    before = ("GET " if text else '{"pad": "", "request": "GET ') + f"{base}?pad=NNN&key="
    path = f"{base}?pad={at_the_cut(before, offset):03d}&key=${{DC_LONG_TOKEN}}"
    # The body holds the header token (with its quote and backslash) under a key that says nothing of it: the echo
    # sends it back JSON-escaped inside a JSON string.
    body = {"note": "${DC_HEADER_TOKEN}"}
    return {
        "steps": [{"name": "echo", "method": "POST", "path": path, "body": body, "expect": {"fields": {"ok": True}}}]
    }


def test_no_form_and_no_start_of_a_secret_reaches_any_output(
    echoing_server, receiver, run_suite, pytester, tmp_path, workers, monkeypatch
):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    reports = tmp_path / "reports"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(reports / "step-summary.md"))
    reports.mkdir()
    address = echoing_server.removeprefix("http://")
    offsets = (10, 25, 45)  # the token starts this many characters before the cut: 57 of it straddle it
    services, flows = {}, {}
    for text in (False, True):
        for offset in offsets:
            name = f"{'text' if text else 'json'}-{offset}"
            flows[name.replace("-", "_")] = flow(text, offset)
            services[name] = {
                "url": f"http://{USER}:${{DC_URL_PASSWORD}}@{address}",
                "headers": {"X-Api-Token": "${DC_HEADER_TOKEN}"},
                "health": {"path": health_path(text, offset), "expect": {"status": "healthy"}},
                # JSON: the served version is the echoed request, shown whole (up to 1,000 characters) as observed.
                "version": {"path": health_path(text, offset).replace("health", "version") if text else "/version"},
                "flows": [name.replace("-", "_")],
            }
    hooks = [
        {"url": f"{receiver.url}/hook?token=${{DC_HOOK_TOKEN}}"},
        {"url": f"{receiver.url}/slack", "format": "slack"},
    ]
    environments = write_environment(
        tmp_path / "environments",
        "staging",
        services,
        prometheus={"url": f"{echoing_server}/status=400", "username": "ops", "password": "${DC_PROM_PASSWORD}"},
        notifications={"webhooks": hooks},
        declared_flows=flows,
    )
    run = run_suite(
        environments,
        "--env", "staging", "--expected-version", "v2.3.1", "-k", "health or version or alerts or flows",
        "-l", "-rA",
        "--alluredir", str(reports / "allure-results"), "--junitxml", str(reports / "junit.xml"),
        "--summary-file", str(reports / "summary.md"), "--metrics-file", str(reports / "deploycheck.prom"),
        workers=workers, checks=[REPO / "checks", REPO / "smoke"],
    )  # fmt: skip

    # The run really met the secrets: every check that reads the echo failed or could not judge, saying why.
    assert run.ret == 1, run.stdout
    outcomes = run.outcomes()
    for name in services:
        assert outcomes[(name, "health.liveness")] == "failed", run.stdout
        assert outcomes[(name, "version.matches_expected")] == "failed", run.stdout
        assert outcomes[(name, f"flows.{name.replace('-', '_')}")] == "failed", run.stdout
        assert outcomes[(name, "alerts.no_critical_firing")] == "inconclusive", run.stdout
    messages = [finding["message"] for body in run.verdict["services"].values() for finding in body["findings"]]
    assert any("answered 400" in message for message in messages)  # the Prometheus echo, with its Basic header
    assert sum("characters in all" in message for message in messages) >= 9  # bodies cut at the token
    # The two webhooks are sent at once: they may arrive in either order.
    by_path = {item["path"]: item for item in receiver.received}
    assert sorted(by_path) == sorted(["/hook?token=" + SECRETS["DC_HOOK_TOKEN"], "/slack"])
    sent = by_path["/hook?token=" + SECRETS["DC_HOOK_TOKEN"]]["headers"]
    assert "Authorization" not in sent  # (a webhook has no Basic auth here: the URL's token is the credential)
    generate_html_report(reports)

    scanned = {path: texts_of(path) for path in sorted(reports.rglob("*")) if path.is_file()}
    assert any(path.name.endswith("-attachment.txt") for path in scanned)  # the evidence was attached
    found = {str(path): leaks(text) for path, texts in scanned.items() for text in texts if leaks(text)}
    others = {
        "terminal": run.stdout,
        "verdict.json": (pytester.path / "verdict.json").read_text(),
        "webhooks": json.dumps([item["body"] for item in receiver.received]),
    }
    found.update({name: leaks(text) for name, text in others.items() if leaks(text)})
    assert found == {}, sorted({form for forms in found.values() for form in forms})


# A team's own check that asserts on an answer: pytest (not the suite) shortens the long values it shows (the
# assertion, the locals of -l) by cutting them in the middle with "...", before any redaction can run.
TEAM_CHECK = """
def test_the_body_is_short(target, health):
    body = health.value.body
    assert body == "short"
"""


def test_what_pytest_cuts_in_the_middle_leaves_no_piece_of_a_secret(
    echoing_server, run_suite, pytester, tmp_path, workers, monkeypatch
):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    address = echoing_server.removeprefix("http://")
    # pytest keeps the first and last ~118 characters of a long repr: the token straddles the first cut, and the
    # header token the second (the echoed headers, by name, end the body).
    service = {
        "url": f"http://{USER}:${{DC_URL_PASSWORD}}@{address}",
        "headers": {"X-Api-Token": "${DC_HEADER_TOKEN}", "X-Zz": "z" * 62},
        "health": {"path": "/health?pad=060&key=${DC_LONG_TOKEN}"},
    }
    environments = write_environment(tmp_path / "environments", "staging", {"shop": service})
    checks = write_checks(tmp_path / "team", test_team=TEAM_CHECK)
    run = run_suite(environments, "--env", "staging", "-l", "-rA", "--junitxml", str(tmp_path / "junit.xml"),
                    workers=workers, checks=[checks])  # fmt: skip

    assert run.ret == 1, run.stdout
    assert "..." in run.stdout and "body = " in run.stdout  # pytest did cut the values it showed
    outputs = {
        "terminal": run.stdout,
        "junit": (tmp_path / "junit.xml").read_text(),
        "verdict.json": (pytester.path / "verdict.json").read_text(),
    }
    found = {name: leaks(text) for name, text in outputs.items() if leaks(text)}
    assert found == {}, sorted({form for forms in found.values() for form in forms})
