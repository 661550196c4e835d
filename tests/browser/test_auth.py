"""The console on a node that requires a login: the login form on every page until a session
exists, pages that work after it, writes refused without the session's CSRF token, a logout that
ends the session, and a wrong password shown in words."""
import re
import subprocess
import uuid

import pytest
from playwright.sync_api import expect

from conftest import screenshot

ADMIN_PASSWORD = "console-admin-secret"
CONSOLE_PATHS = ["/", "/leader", "/#/dashboard", "/#/produce", "/#/consume", "/#/topics",
                 "/#/topics/anything", "/#/cluster", "/#/groups", "/#/users", "/#/acls"]
# Paths that hold no data: the console's page and assets.
PUBLIC = re.compile(r"^/(ui/.*|leader)?$")


@pytest.fixture
def secure_broker(start_broker, tmp_path):
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    return start_broker("--authentication", "true", "--authorization", "true",
                        "--super-users", "User:admin", "--bootstrap-user", "admin",
                        "--bootstrap-password-file", str(password_file),
                        "--login-failure-delay-ms-max", "200")


@pytest.fixture
def secure_page(browser, secure_broker):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=secure_broker.http)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def log_in(page, password=ADMIN_PASSWORD):
    page.locator("#login-username").fill("admin")
    page.locator("#login-password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_no_console_page_is_reachable_without_a_session(secure_page, secure_broker):
    """Every console path shows the login form and nothing else; no API answer carries data."""
    answered = []
    secure_page.on("response", lambda response: answered.append(response))
    for path in CONSOLE_PATHS:
        secure_page.goto(path)
        expect(secure_page.locator("#login-form")).to_be_visible()
        expect(secure_page.locator("#nav")).to_be_hidden()
        expect(secure_page.locator("main .page")).to_have_count(1)
        expect(secure_page.locator('main .page[data-page="login"]')).to_have_count(1)
    data = [f"{r.status} {r.url}" for r in answered
            if r.ok and not PUBLIC.match(re.sub(r"^https?://[^/]+", "", r.url).split("?")[0])]
    assert not data, f"answered without a session: {data}"
    screenshot(secure_page, "login")


def test_wrong_password_is_shown(secure_page):
    secure_page.goto("/")
    log_in(secure_page, password="not-the-password")
    expect(secure_page.get_by_test_id("login-message")).to_contain_text("unauthenticated")
    expect(secure_page.locator("#login-form")).to_be_visible()


def test_login_pages_work_csrf_is_enforced_and_logout_ends_the_session(secure_page, secure_broker):
    page = secure_page
    page.goto("/#/topics")
    log_in(page)
    expect(page.locator("#account-name")).to_have_text("admin")
    expect(page.get_by_role("heading", name="Topics", exact=True)).to_be_visible()

    # A write through the console carries the token: creating a topic works.
    topic = f"auth-{uuid.uuid4().hex[:8]}"
    page.locator("#new-topic-name").fill(topic)
    page.get_by_role("button", name="Create topic").click()
    expect(page.get_by_test_id("topic-list").locator(f'tr[data-topic="{topic}"]')).to_be_visible()

    # The same cookie without the token is refused; with it, accepted.
    without = page.request.post("/topics", data={"name": f"{topic}-x", "partitions": 1})
    assert without.status == 403, without.text()
    assert without.json()["error"]["code"] == "csrf_token_invalid"
    refused = page.evaluate("""async (name) => {
        const response = await fetch('/topics', {method: 'POST', headers: {'content-type': 'application/json'},
                                                  body: JSON.stringify({name, partitions: 1})});
        return [response.status, (await response.json()).error.code];
    }""", f"{topic}-y")
    assert refused == [403, "csrf_token_invalid"]
    token = page.request.get("/auth/whoami").json()["csrf_token"]
    with_token = page.request.post("/topics", data={"name": f"{topic}-z", "partitions": 1},
                                   headers={"x-csrf-token": token})
    assert with_token.status == 201, with_token.text()

    # The admin pages show for a node with ACLs on.
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_test_id("user-list").locator('tr[data-user="admin"]')).to_be_visible()
    page.get_by_role("link", name="ACLs").click()
    expect(page.get_by_test_id("acl-list")).to_contain_text("No ACL matches.")
    screenshot(page, "acls")

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-form")).to_be_visible()
    after = page.request.get("/topics")
    assert after.status == 401, after.text()
    page.goto("/#/topics")
    expect(page.locator("#login-form")).to_be_visible()


def test_session_cookie_is_secure_under_https(browser, start_broker, tmp_path):
    """Over HTTPS the session cookie carries Secure (with HttpOnly and SameSite=Strict), and the
    console logs in through it."""
    key, cert = tmp_path / "node.key", tmp_path / "node.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD)
    broker = start_broker("--tls-cert-file", str(cert), "--tls-key-file", str(key), "--http-tls", "true",
                          "--authentication", "true", "--bootstrap-user", "admin",
                          "--bootstrap-password-file", str(password_file))
    assert broker.http.startswith("https://"), broker.http
    context = browser.new_context(base_url=broker.http, ignore_https_errors=True)
    try:
        answer = context.request.post("/auth/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert answer.status == 200, answer.text()
        flags = [flag.strip() for flag in answer.headers["set-cookie"].split(";")]
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"]:
            assert flag in flags, f"{flag} missing from {flags}"
        page = context.new_page()
        page.goto("/#/topics")
        expect(page.get_by_role("heading", name="Topics", exact=True)).to_be_visible()
    finally:
        context.close()


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def test_client_certificate_is_the_principal_over_https(browser, start_broker, tmp_path):
    """An HTTPS client certificate signed by the node's CA authenticates as User:<CN>, with no
    login; without one the same node answers 401."""
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=yak-test-ca",
            "-keyout", str(ca_key), "-out", str(ca))
    signed = {}
    for name, extension in [("node", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("alice", "extendedKeyUsage=clientAuth")]:
        key, csr, cert, ext = (tmp_path / f"{name}.{suffix}" for suffix in ("key", "csr", "pem", "ext"))
        subject = "/CN=localhost" if name == "node" else "/CN=alice"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key), "-out", str(csr))
        ext.write_text(extension + "\n")
        openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                "-days", "1", "-extfile", str(ext), "-out", str(cert))
        signed[name] = (cert, key)
    broker = start_broker("--tls-cert-file", str(signed["node"][0]), "--tls-key-file", str(signed["node"][1]),
                          "--tls-ca-file", str(ca), "--tls-client-auth", "requested", "--http-tls", "true",
                          "--authentication", "true")
    with_cert = browser.new_context(base_url=broker.http, ignore_https_errors=True, client_certificates=[
        {"origin": broker.http, "certPath": str(signed["alice"][0]), "keyPath": str(signed["alice"][1])}])
    without = browser.new_context(base_url=broker.http, ignore_https_errors=True)
    try:
        answer = with_cert.request.get("/auth/whoami")
        assert answer.status == 200, answer.text()
        assert answer.json()["principal"] == "User:alice"
        refused = without.request.get("/auth/whoami")
        assert refused.status == 401, refused.text()
        assert refused.json()["error"]["code"] == "unauthenticated"
    finally:
        with_cert.close()
        without.close()


def test_standalone_console_logs_in_through_to_the_node(browser, secure_broker, tmp_path):
    """Regression: `yak console` forwarded neither the session cookie nor the CSRF token, and did
    not pass the node's Set-Cookie back, so nobody could log in through it. Now a login through
    it opens the pages, and its writes carry the token."""
    from conftest import yak_bin
    process = subprocess.Popen([str(yak_bin()), "console", "--brokers", secure_broker.http,
                                "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=open(tmp_path / "console.log", "w"), text=True)
    try:
        url = None
        for line in process.stdout:
            found = re.search(r"listening console=(\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, f"the console printed no `listening console=…` line; log: {(tmp_path / 'console.log').read_text()}"
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
        try:
            page = context.new_page()
            page.goto("/#/topics")
            expect(page.locator("#login-form")).to_be_visible()
            log_in(page)
            expect(page.locator("#account-name")).to_have_text("admin")
            topic = f"console-auth-{uuid.uuid4().hex[:8]}"
            page.locator("#new-topic-name").fill(topic)
            page.get_by_role("button", name="Create topic").click()
            expect(page.get_by_test_id("topic-list").locator(f'tr[data-topic="{topic}"]')).to_be_visible()
        finally:
            context.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
