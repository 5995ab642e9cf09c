"""The local CA and leaf: SANs, chain, reuse and repair."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from emulator.proxy.certs import CA_KEY_FILE, ensure_certificates


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_creates_ca_and_leaf_with_the_aws_sans(tmp_path: Path) -> None:
    """The leaf covers execute-api, regional and global AWS hosts, localhost and 127.0.0.1."""
    paths = ensure_certificates(tmp_path)
    ca, leaf = load(paths.ca), load(paths.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "*.execute-api.us-east-1.amazonaws.com",
        "*.us-east-1.amazonaws.com",
        "*.amazonaws.com",
        "localhost",
    }
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert paths.key.stat().st_mode & 0o077 == 0


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str) -> dict[str, object]:
    """Run a TLS handshake through memory BIOs; the client's view of the peer cert."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=host)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.version() is not None
    cert = c.getpeercert()
    assert cert is not None
    return dict(cert)


def test_python_verifies_aws_host_names_against_the_ca(tmp_path: Path) -> None:
    """A default client context trusting ca.pem accepts the leaf for AWS names only."""
    paths = ensure_certificates(tmp_path)
    client = ssl.create_default_context(cafile=str(paths.ca))
    server = paths.server_context()
    for host in (
        "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "cognito-idp.us-east-1.amazonaws.com",
        "sts.amazonaws.com",
    ):
        assert "subjectAltName" in handshake(client, server, host)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(client, server, "example.com")


def test_valid_files_are_reused(tmp_path: Path) -> None:
    """A second call leaves valid files untouched."""
    first = ensure_certificates(tmp_path)
    before = {p: p.read_bytes() for p in (first.ca, first.cert, first.key)}
    second = ensure_certificates(tmp_path)
    assert second == first
    third = ensure_certificates(tmp_path, "us-east-1")
    assert third.ca_path == first.ca
    assert {p: p.read_bytes() for p in before} == before


def test_new_region_reissues_only_the_leaf(tmp_path: Path) -> None:
    """Asking for another region keeps the CA and issues a leaf covering it."""
    first = ensure_certificates(tmp_path)
    ca_before = first.ca.read_bytes()
    cert_before = first.cert.read_bytes()
    paths = ensure_certificates(tmp_path, ("us-east-1", "eu-west-1"))
    assert paths.ca.read_bytes() == ca_before
    assert paths.cert.read_bytes() != cert_before
    san = load(paths.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "*.execute-api.eu-west-1.amazonaws.com" in san.value.get_values_for_type(x509.DNSName)


def test_broken_files_are_replaced(tmp_path: Path) -> None:
    """A corrupt leaf is re-issued; a missing CA key regenerates everything."""
    paths = ensure_certificates(tmp_path)
    paths.cert.write_text("garbage")
    ensure_certificates(tmp_path)
    load(paths.cert).verify_directly_issued_by(load(paths.ca))
    ca_before = paths.ca.read_bytes()
    (tmp_path / CA_KEY_FILE).unlink()
    ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() != ca_before
    load(paths.cert).verify_directly_issued_by(load(paths.ca))
