"""Fixtures of the security suite: test certificates (made once per session with `cryptography`)
and real `yak broker` nodes on port 0 with security turned on, each in a temporary directory.

- `sasl_node`: SASL_SSL and SASL_PLAINTEXT listeners (SCRAM-SHA-256/512, PLAIN), the user
  `admin` created at start-up.
- `tls_node`: TLS everywhere: SSL and SASL_SSL listeners, HTTPS, client certificates required.
- `acl_node`: SASL_PLAINTEXT, HTTP authentication, ACLs on, `User:admin` a super user.
"""
import pytest

from security_support import Node, make_certificates


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def tls_flags(certs, client_auth="none"):
    return ["--tls-cert-file", str(certs["node_cert"]), "--tls-key-file", str(certs["node_key"]),
            "--tls-ca-file", str(certs["ca"]), "--tls-client-auth", client_auth]


@pytest.fixture(scope="session")
def sasl_node(tmp_path_factory, certs):
    node = Node(tmp_path_factory.mktemp("sasl-node"), [
        "--listeners", "SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "--sasl-mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
        *tls_flags(certs)])
    yield node
    node.stop()


@pytest.fixture(scope="session")
def tls_node(tmp_path_factory, certs):
    # yak_kafka at debug logs each session's principal: the client certificate's `User:CN`.
    node = Node(tmp_path_factory.mktemp("tls-node"), [
        "--listeners", "SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "--http-tls", "true", *tls_flags(certs, client_auth="required")],
        log_filter="info,yak_kafka=debug")
    yield node
    node.stop()


@pytest.fixture(scope="session")
def acl_node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("acl-node"), [
        "--listeners", "SASL_PLAINTEXT://127.0.0.1:0",
        "--sasl-mechanisms", "SCRAM-SHA-512",
        "--authentication", "true", "--authorization", "true", "--super-users", "User:admin"])
    yield node
    node.stop()
