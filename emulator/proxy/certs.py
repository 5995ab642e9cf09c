"""A local CA and one leaf certificate for the AWS host names the TLS proxy serves.

Handlers trust `ca.pem` through `AWS_CA_BUNDLE` / `SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE`
(TEAM.md decision 2), so the leaf must cover every host they call by its real name:
`{apiId}.execute-api.{region}.amazonaws.com`, `cognito-idp.{region}.amazonaws.com`,
`sqs.{region}.amazonaws.com`, ... A wildcard covers exactly one label (RFC 6125 §6.4.3),
hence one SAN per depth.

EC P-256 keys make generation take a few milliseconds; files are reused across runs while
they are valid, cover the SANs asked for and chain to the CA, so a CA a developer chose to
trust keeps working. Extensions follow what Python 3.13's `VERIFY_X509_STRICT` default
demands (CA: critical basicConstraints and keyUsage; both: key identifiers; leaf: SAN).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
TRUST_FILE = "trust.pem"  # the CA plus the public roots (see CertPaths.trust_bundle)
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"

CA_DAYS = 3650
LEAF_DAYS = 397  # the longest lifetime browsers accept for a TLS leaf
RENEW_BEFORE = dt.timedelta(days=7)

ECKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class CertPaths:
    """Where the CA and the leaf live; `ca` is what clients trust."""

    ca: Path
    cert: Path
    key: Path

    @property
    def ca_path(self) -> Path:
        """The CA bundle for AWS_CA_BUNDLE / SSL_CERT_FILE / REQUESTS_CA_BUNDLE."""
        return self.ca

    @property
    def trust_bundle(self) -> Path:
        """The local CA followed by the public roots, written by `ensure_certificates`.

        For AWS_CA_BUNDLE / SSL_CERT_FILE / REQUESTS_CA_BUNDLE when the proxy also passes
        other hosts through: those variables replace the default trust store, so with
        the local CA alone a handler could verify the emulator's AWS hosts but no real
        site on the internet, which a deployed function reaches.
        """
        return self.ca.with_name(TRUST_FILE)

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the leaf (HTTP/1.1 only)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        context.set_alpn_protocols(["http/1.1"])
        return context


def dns_names(regions: Sequence[str]) -> list[str]:
    """The leaf's DNS SANs for `regions`."""
    names: list[str] = []
    for region in regions:
        names += [f"*.execute-api.{region}.amazonaws.com", f"*.{region}.amazonaws.com"]
    names += ["*.amazonaws.com", "localhost"]
    return list(dict.fromkeys(names))


LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


def ensure_certificates(directory: Path, region: str | Sequence[str] = "us-east-1") -> CertPaths:
    """Make sure `directory` holds a valid CA and leaf for `region`(s); return their paths.

    Reuses what is there when valid; re-issues only the leaf when the CA is still good.
    Concurrent callers on the same directory are serialised by a lock file.
    """
    regions = (region,) if isinstance(region, str) else tuple(region)
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    wanted = dns_names(regions)
    now = dt.datetime.now(dt.UTC)
    with _locked(directory):
        ca = _load_ca(directory, now)
        if ca is None:
            ca = _new_ca(now)
            _write_key(directory / CA_KEY_FILE, ca[1])
            _write(paths.ca, ca[0].public_bytes(serialization.Encoding.PEM))
        if not _leaf_ok(paths, ca[0], wanted, now):
            cert, key = _new_leaf(ca, wanted, now)
            _write_key(paths.key, key)
            _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM))
        trust = paths.ca.read_bytes().rstrip(b"\n") + b"\n" + public_roots()
        with contextlib.suppress(OSError):
            if paths.trust_bundle.read_bytes() == trust:
                return paths
        _write(paths.trust_bundle, trust)
    return paths


def public_roots() -> bytes:
    """The PEM roots clients trust by default: certifi's bundle, else the system's.

    certifi is what requests (and so most handlers' HTTP clients) verifies with when no
    variable overrides it; OpenSSL's default file is the fallback. Empty if neither exists.
    """
    candidates: list[str] = []
    try:
        import certifi
    except ImportError:
        pass
    else:
        candidates.append(certifi.where())
    default = ssl.get_default_verify_paths()
    candidates += [path for path in (default.cafile, default.openssl_cafile) if path]
    for candidate in candidates:
        with contextlib.suppress(OSError):
            data = Path(candidate).read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in data:
                return data.rstrip(b"\n") + b"\n"
    return b""


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield
        return
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # readers never see half a PEM


def _write_key(path: Path, key: ECKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_BEFORE < cert.not_valid_after_utc


def _same_key(cert: x509.Certificate, key: ECKey) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def _load_key(path: Path) -> ECKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _load_ca(directory: Path, now: dt.datetime) -> tuple[x509.Certificate, ECKey] | None:
    cert = _load_cert(directory / CA_FILE)
    key = _load_key(directory / CA_KEY_FILE)
    if cert is None or key is None or not _valid_at(cert, now) or not _same_key(cert, key):
        return None
    return cert, key


def _leaf_ok(paths: CertPaths, ca: x509.Certificate, wanted: list[str], now: dt.datetime) -> bool:
    cert = _load_cert(paths.cert)
    key = _load_key(paths.key)
    if cert is None or key is None or not _valid_at(cert, now) or not _same_key(cert, key):
        return False
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (InvalidSignature, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    have = set(san.get_values_for_type(x509.DNSName))
    return set(wanted) <= have and LOOPBACK in san.get_values_for_type(x509.IPAddress)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "duelctl local emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_ca(now: dt.datetime) -> tuple[x509.Certificate, ECKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("duelctl local CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_leaf(
    ca: tuple[x509.Certificate, ECKey], wanted: list[str], now: dt.datetime
) -> tuple[x509.Certificate, ECKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in wanted]
    sans.append(x509.IPAddress(LOOPBACK))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("*.amazonaws.com"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(min(now + dt.timedelta(days=LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key
