"""HTTP with authentication and ACLs: 401 `unauthenticated` without or with wrong credentials,
403 `forbidden` for what the ACLs refuse, the same requests allowed once ACLs grant them; the
principal of an HTTPS client certificate; the CLI with credentials and a token."""
import uuid

import pytest

from security_support import ADMIN_PASSWORD, as_admin, basic, client_tls, http_call, yak

CAROL_PASSWORD = "carol-secret"


@pytest.fixture(scope="module")
def carol(acl_node):
    """The user carol, added by the admin with `yak users add` (test_acls.py has alice)."""
    flags, env = as_admin(acl_node)
    yak("users", "add", "carol", *flags, env=env, stdin=CAROL_PASSWORD + "\n")
    return basic("carol", CAROL_PASSWORD)


def error_code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def test_health_needs_no_credentials(acl_node):
    status, body = http_call(acl_node.http + "/health")
    assert status == 200, body


def test_no_credentials_is_401_unauthenticated(acl_node):
    for method, path, payload in [("GET", "/topics", None), ("GET", "/cluster", None),
                                  ("POST", "/produce", {"topic": "t", "payload": "x"})]:
        status, body = http_call(acl_node.http + path, method=method, body=payload)
        assert (status, error_code(body)) == (401, "unauthenticated"), (path, status, body)


def test_wrong_password_is_401_unauthenticated(acl_node):
    status, body = http_call(acl_node.http + "/topics", headers=basic("admin", "wrong"))
    assert (status, error_code(body)) == (401, "unauthenticated"), body
    status, body = http_call(acl_node.http + "/topics", headers={"authorization": "Bearer yak_not_a_token"})
    assert (status, error_code(body)) == (401, "unauthenticated"), body


def test_acl_refusals_are_403_forbidden_until_granted(acl_node, carol):
    """carol may not create, write or describe until the admin grants it; then she may."""
    topic = f"http-acl-{uuid.uuid4().hex[:8]}"
    admin = basic("admin", ADMIN_PASSWORD)
    status, body = http_call(acl_node.http + "/topics", "POST", {"name": topic, "partitions": 1}, headers=carol)
    assert (status, error_code(body)) == (403, "forbidden"), body
    status, body = http_call(acl_node.http + "/topics", "POST", {"name": topic, "partitions": 1}, headers=admin)
    assert status == 201, body

    record = {"topic": topic, "payload": {"n": 1}}
    status, body = http_call(acl_node.http + "/produce", "POST", record, headers=carol)
    assert (status, error_code(body)) == (403, "forbidden"), body
    status, body = http_call(acl_node.http + f"/topics/{topic}", headers=carol)
    assert (status, error_code(body)) == (403, "forbidden"), body
    # Topics carol may not describe are left out of the list, as Kafka's Metadata does.
    status, body = http_call(acl_node.http + "/topics", headers=carol)
    assert status == 200 and topic not in {t["name"] for t in body["topics"]}, body

    status, body = http_call(acl_node.http + "/acls", "POST", {
        "resource_type": "TOPIC", "resource_name": topic, "principal": "User:carol", "operation": "WRITE"},
        headers=carol)
    assert (status, error_code(body)) == (403, "forbidden"), "carol granted herself an ACL"
    flags, env = as_admin(acl_node)
    yak("acls", "add", "--principal", "carol", "--topic", topic, "--operation", "write",
        "--operation", "describe", *flags, env=env)

    status, body = http_call(acl_node.http + "/produce", "POST", record, headers=carol)
    assert status == 200, body
    status, body = http_call(acl_node.http + f"/topics/{topic}", headers=carol)
    assert status == 200, body
    status, body = http_call(acl_node.http + "/topics", headers=carol)
    assert status == 200 and topic in {t["name"] for t in body["topics"]}, body


def test_cli_with_user_and_token(acl_node):
    """`yak produce` as a user without WRITE fails with `forbidden`; a token the admin makes
    works like the admin's password and stops working once revoked."""
    topic = f"cli-acl-{uuid.uuid4().hex[:8]}"
    flags, env = as_admin(acl_node)
    yak("users", "add", "dave", *flags, env=env, stdin="dave-secret\n")
    refused = yak("produce", "--broker", acl_node.http, "--topic", topic, "--user", "dave", "hello",
                  env={"YAK_PASSWORD": "dave-secret"}, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr

    token = yak("tokens", "create", f"ci-{topic}", *flags, env=env).stdout.strip()
    assert token.startswith("yak_"), token
    produced = yak("produce", "--broker", acl_node.http, "--topic", topic, "hello", env={"YAK_TOKEN": token})
    assert '"offset"' in produced.stdout, produced.stdout
    yak("tokens", "revoke", f"ci-{topic}", *flags, env=env)
    revoked = yak("topics", "list", "--broker", acl_node.http, env={"YAK_TOKEN": token}, check=False)
    assert revoked.returncode != 0 and "unauthenticated" in revoked.stderr, revoked.stderr


def test_https_client_certificate_is_the_principal(tls_node, certs):
    """Over HTTPS with alice's certificate, whoami says User:alice."""
    status, body = http_call(tls_node.http + "/auth/whoami", context=client_tls(certs))
    assert status == 200 and body["principal"] == "User:alice", body
