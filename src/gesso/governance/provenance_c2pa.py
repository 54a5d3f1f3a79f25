"""C2PA Content Credentials: sign each generated image, and read and validate credentials back.

The deployment's signing identity lives in the keys directory. At first start Gesso creates a
local CA (kept only to issue the signing certificate) and an ES256 signing certificate under it;
the CA certificate is the trust anchor that verification accepts. An organisation that has its own
PKI puts its signing chain, key and anchors in the same three files instead (`SIGNER_CHAIN_FILE`,
`SIGNER_KEY_FILE`, `TRUST_ANCHORS_FILE`) and Gesso uses them as they are.

Every c2pa call runs with remote manifest fetching and OCSP off, and without a timestamp
authority: nothing is fetched, nothing leaves.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gesso.store.secret_files import create_secret_set

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GESSO_ASSERTION = "org.gesso.generation"
CA_CERT_FILE = "c2pa-ca.pem"
CA_KEY_FILE = "c2pa-ca.key"
SIGNER_CHAIN_FILE = "c2pa-signer-chain.pem"
SIGNER_KEY_FILE = "c2pa-signer.key"
TRUST_ANCHORS_FILE = "c2pa-trust-anchors.pem"
OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "builder": {"thumbnail": {"enabled": False}},
}

# Codes that only say "not signed under our anchors": the manifest itself is intact.
TRUST_FAILURES = frozenset({"signingCredential.untrusted"})

CredentialState = Literal["trusted", "untrusted", "invalid", "absent"]


@dataclass(frozen=True)
class SigningIdentity:
    chain_pem: str  # signing certificate first, then its issuers
    key_pem: str
    trust_anchors_pem: str

    def signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, self.chain_pem.encode(), self.key_pem.encode(), None
        )
        return c2pa.Signer.from_info(info)


@dataclass(frozen=True)
class GenerationFacts:
    """What a manifest states about how an image was made."""

    model: str
    tenant: str
    created: str  # ISO 8601 UTC
    image_id: str  # the watermark identifier, 16 hex digits
    software: str = "Gesso"
    software_version: str = "0.1.0"


@dataclass(frozen=True)
class CredentialsReport:
    state: CredentialState
    issuer: str | None = None  # organisation of the signing certificate
    signer: str | None = None  # common name of the signing certificate
    facts: dict[str, Any] | None = None  # the org.gesso.generation assertion, when present
    digital_source_type: str | None = None
    failures: list[str] = field(default_factory=list)  # c2pa validation failure codes


# -- the signing identity --------------------------------------------------------------------------


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_local_identity(
    keys_dir: Path, organisation: str = "Gesso deployment"
) -> SigningIdentity:
    """Create a local CA and an ES256 C2PA signing certificate in `keys_dir` (keys mode 0600)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} Content Credentials CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )  # keyCertSign, cRLSign
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} image signing"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )  # digitalSignature
        # C2PA accepts emailProtection (among a few) as a signing certificate's extended key usage.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # the CA key claims the folder; the chain comes last (its presence means the set is whole), so
    # replicas starting together on one shared keys folder all use the first one's identity
    create_secret_set(
        keys_dir,
        [
            (CA_KEY_FILE, _key_pem(ca_key)),
            (CA_CERT_FILE, _pem(ca).encode()),
            (TRUST_ANCHORS_FILE, _pem(ca).encode()),
            (SIGNER_KEY_FILE, _key_pem(signer_key)),
            (SIGNER_CHAIN_FILE, (_pem(signer) + _pem(ca)).encode()),
        ],
        public=frozenset({CA_CERT_FILE, TRUST_ANCHORS_FILE, SIGNER_CHAIN_FILE}),
    )
    return load_identity(keys_dir)


def load_identity(keys_dir: Path) -> SigningIdentity:
    """The signing chain, key and trust anchors in `keys_dir`; FileNotFoundError if absent."""
    return SigningIdentity(
        chain_pem=(keys_dir / SIGNER_CHAIN_FILE).read_text(),
        key_pem=(keys_dir / SIGNER_KEY_FILE).read_text(),
        trust_anchors_pem=(keys_dir / TRUST_ANCHORS_FILE).read_text(),
    )


def ensure_identity(keys_dir: Path, organisation: str = "Gesso deployment") -> SigningIdentity:
    """The deployment's identity: the files already in `keys_dir` (Gesso's or the organisation's),
    or a new local CA and signing certificate on first start."""
    if (keys_dir / SIGNER_CHAIN_FILE).exists() and (keys_dir / SIGNER_KEY_FILE).exists():
        return load_identity(keys_dir)
    return create_local_identity(keys_dir, organisation)


# -- signing and reading ---------------------------------------------------------------------------


def _context(trust_anchors_pem: str | None) -> c2pa.Context:
    settings = json.loads(json.dumps(OFFLINE_SETTINGS))
    if trust_anchors_pem:
        # trust_anchors replaces the SDK's built-in list: only this deployment's anchors count.
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


def manifest_definition(facts: GenerationFacts) -> dict[str, Any]:
    """The manifest: a c2pa.created action (trainedAlgorithmicMedia) and Gesso's facts."""
    agent = {"name": facts.software, "version": facts.software_version}
    return {
        "claim_generator_info": [agent],
        "title": f"gesso-{facts.image_id}",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                            "when": facts.created,
                            "parameters": {"model": facts.model},
                        }
                    ]
                },
            },
            {
                "label": GESSO_ASSERTION,
                "data": {
                    "model": facts.model,
                    "tenant": facts.tenant,
                    "created": facts.created,
                    "image_id": facts.image_id,
                },
            },
        ],
    }


def sign_image(
    image_bytes: bytes, mime_type: str, facts: GenerationFacts, identity: SigningIdentity
) -> bytes:
    """`image_bytes` with Content Credentials embedded (PNG or JPEG); raises c2pa.C2paError."""
    builder = c2pa.Builder(manifest_definition(facts), context=_context(identity.trust_anchors_pem))
    out = io.BytesIO()
    builder.sign(identity.signer(), mime_type, io.BytesIO(image_bytes), out)
    return out.getvalue()


def read_credentials(
    image_bytes: bytes, mime_type: str, trust_anchors_pem: str | None
) -> CredentialsReport:
    """Validate the embedded manifest against `trust_anchors_pem`.

    trusted: intact and signed under an anchor; untrusted: intact but signed by someone else;
    invalid: the manifest no longer matches the image or its signature fails; absent: none.
    """
    try:
        reader = c2pa.Reader.try_create(
            mime_type, io.BytesIO(image_bytes), None, _context(trust_anchors_pem)
        )
    except c2pa.C2paError as error:
        return CredentialsReport("invalid", failures=[f"unreadable manifest: {error}"])
    if reader is None:
        return CredentialsReport("absent")
    with reader:
        validation = (reader.get_validation_state() or "").lower()
        manifest = reader.get_active_manifest() or {}
        results = reader.get_validation_results() or {}
    failures = [
        item.get("code", "") for item in (results.get("activeManifest") or {}).get("failure", [])
    ]
    signature = manifest.get("signature_info") or {}
    facts, source_type = None, None
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == GESSO_ASSERTION:
            facts = assertion.get("data")
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType")
    integrity_failures = [code for code in failures if code not in TRUST_FAILURES]
    if validation == "trusted":
        state: CredentialState = "trusted"
    elif validation in ("valid", "invalid") and not integrity_failures:
        state = "untrusted"  # intact, but not signed under our anchors
    else:
        state = "invalid"
    return CredentialsReport(
        state,
        issuer=signature.get("issuer"),
        signer=signature.get("common_name"),
        facts=facts,
        digital_source_type=source_type,
        failures=failures,
    )
