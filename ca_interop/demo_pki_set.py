"""``bidhall pki demo DIR``: three mutually recognised demo CAs and the certificates of a demo.

Layout of DIR (keys are written readable by the owner only; this is demo material, made
fresh on every machine and never committed):

    ca/<rsa|ecdsa|sm2>/ca.pem, ca.key           the CA (ca.key lets the demo revoke later)
    crl/<host>/root.crl                          each CA's CRL, laid out by distribution point
    bidders/<name>-<alg>-{sign,enc}.{pem,key}    bidder signing and encryption certificates
    experts/<name>-<alg>-sign.{pem,key}          expert (person) certificates
    custodians/<name>-<alg>-enc.{pem,key}        opening-key custodians
    tsa/tsa.pem, tsa.key, tsa-chain.pem          the platform timestamp authority (RSA)
    platform/eseal-issuer.{pem,key}              the platform's e-seal issuer (SM2)
    platform-seal/seal.key, seal-chain.pem,      the platform e-seal (award notices): the holder's
      seal.der                                   key, certificate and chain, and the SESeal the
                                                 issuer made (ca_interop.platform_seal)
    manifest.json                                what is where, and each certificate's identity

The ``crl/`` tree is what :class:`~ca_interop.revocation.MirrorRevocationTransport` reads,
so the demo validates revocation without the CAs' (fictional) web sites.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ca_interop.demo_pki import DemoCA, Usage
from ca_interop.demo_pki_sm2 import Sm2DemoCA
from core.person_id import make_person_id
from core.uscc import make_uscc

CA_NAMES = {
    "rsa": "Fujian Digital Certificate Authority (RSA)",
    "ecdsa": "Min Trust Certificate Authority (ECDSA)",
    "sm2": "Haixi Commercial Cryptography CA (SM2)",
}
BIDDERS = {
    "minjiang": ("Minjiang Construction Group Co., Ltd.", make_uscc("91350100MA2Y00001")),
    "wuyi": ("Wuyi Road & Bridge Engineering Co., Ltd.", make_uscc("91350700MA2Y00002")),
    "haixia": ("Haixia Hydraulic Engineering Bureau Co., Ltd.", make_uscc("91350200MA2Y00005")),
    "rongcheng": ("Rongcheng Municipal Works Co., Ltd.", make_uscc("91350100MA2Y00006")),
    "zhangzhou": ("Zhangzhou Water Resources Construction Co., Ltd.", make_uscc("91350600MA2Y00007")),
}
EXPERTS = {"wang-wei": ("Wang Wei", make_person_id("35010219800101123")),
           "lin-fang": ("Lin Fang", make_person_id("35020319750505234"))}
CUSTODIANS = ("custodian1", "custodian2", "custodian3")


@dataclass
class DemoPki:
    directory: Path
    manifest: dict[str, Any]


def write_demo_pki(directory: Path) -> DemoPki:
    """Make the demo PKI under ``directory`` (which must not hold one yet)."""
    if (directory / "manifest.json").exists():
        raise FileExistsError(f"{directory} already holds a demo PKI; choose an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    cas: dict[str, DemoCA | Sm2DemoCA] = {
        "rsa": DemoCA.create(CA_NAMES["rsa"], "rsa", host="ca-rsa.demo.test"),
        "ecdsa": DemoCA.create(CA_NAMES["ecdsa"], "ecdsa", host="ca-ecdsa.demo.test"),
        "sm2": Sm2DemoCA.create(CA_NAMES["sm2"], host="ca-sm2.demo.test"),
    }
    manifest: dict[str, Any] = {"cas": {}, "bidders": [], "experts": [], "custodians": [], "tsa": {}, "platform": {}}
    for algorithm, ca in cas.items():
        manifest["cas"][algorithm] = _write_ca(directory, algorithm, ca)
    for key, (name, uscc) in BIDDERS.items():
        for algorithm, ca in cas.items():
            for usage in (Usage.SIGNING, Usage.ENCRYPTION):
                issued = ca.issue(name, usage=usage, uscc=uscc, organization=name)
                stem = f"bidders/{key}-{algorithm}-{'sign' if usage is Usage.SIGNING else 'enc'}"
                manifest["bidders"].append(_write_pair(directory, stem, issued, uscc=uscc, algorithm=algorithm))
    for key, (name, person_id) in EXPERTS.items():
        issued = cas["sm2"].issue(name, person_id=person_id)
        manifest["experts"].append(_write_pair(directory, f"experts/{key}-sm2-sign", issued, person_id=person_id,
                                               algorithm="sm2"))
    for index, key in enumerate(CUSTODIANS):
        algorithm = ("rsa", "ecdsa", "sm2")[index]
        issued = cas[algorithm].issue(f"Opening key custodian {index + 1}", usage=Usage.ENCRYPTION)
        manifest["custodians"].append(_write_pair(directory, f"custodians/{key}-{algorithm}-enc", issued,
                                                  algorithm=algorithm))
    tsa = cas["rsa"].issue("bidhall Platform Time-Stamp Authority", usage=Usage.TIMESTAMPING,  # type: ignore[union-attr]
                           organization="bidhall", days=3650)
    manifest["tsa"] = _write_pair(directory, "tsa/tsa", tsa, algorithm="rsa")
    _write(directory / "tsa/tsa-chain.pem", tsa.cert_pem + cas["rsa"].cert_pem)
    issuer = cas["sm2"].issue("bidhall Platform E-Seal Issuer", organization="bidhall", days=3650)
    manifest["platform"]["eseal_issuer"] = _write_pair(directory, "platform/eseal-issuer", issuer, algorithm="sm2")
    manifest["platform"]["seal"] = _write_platform_seal(directory, cas["sm2"], issuer)  # type: ignore[arg-type]
    _write(directory / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return DemoPki(directory, manifest)


def _write_platform_seal(directory: Path, ca: Sm2DemoCA, issuer: Any) -> dict[str, str]:
    """The platform seal where the default settings look for it (PKI_DIR/platform-seal)."""
    from ca_interop.platform_seal import seal_file_for, write_platform_seal

    holder = ca.issue("bidhall Platform E-Seal", organization="bidhall", days=3650)
    key_file, cert_file = directory / "platform-seal/seal.key", directory / "platform-seal/seal-chain.pem"
    write_platform_seal(key_file, cert_file, holder_key=holder.key, holder_cert=holder.cert, chain=[ca.cert],
                        maker_key=issuer.key, maker_cert=issuer.cert)
    return {"key": "platform-seal/seal.key", "certificate": "platform-seal/seal-chain.pem",
            "seal": str(seal_file_for(cert_file).relative_to(directory)), "algorithm": "sm2"}


def crl_mirror_path(directory: Path, url: str) -> Path:
    """Where the CRL published at ``url`` lives in a mirror tree (``crl/<host>/<path>``)."""
    parsed = urlparse(url)
    parts = [part for part in parsed.path.split("/") if part not in ("", ".", "..")]
    return directory / parsed.netloc.replace(":", "_") / Path(*parts)


def _write_ca(directory: Path, algorithm: str, ca: DemoCA | Sm2DemoCA) -> dict[str, str]:
    _write(directory / f"ca/{algorithm}/ca.pem", ca.cert_pem)
    _write(directory / f"ca/{algorithm}/ca.key", _ca_key_pem(ca), private=True)
    crl = ca.crl_der() if isinstance(ca, DemoCA) else ca.crl().dump()
    _write(crl_mirror_path(directory / "crl", ca.crl_url), crl)
    return {"name": ca.name, "certificate": f"ca/{algorithm}/ca.pem", "crl_url": ca.crl_url}


def _ca_key_pem(ca: DemoCA | Sm2DemoCA) -> bytes:
    if isinstance(ca, Sm2DemoCA):
        return ca.key.to_pkcs8_pem()
    from cryptography.hazmat.primitives import serialization

    return ca.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())


def _write_pair(directory: Path, stem: str, issued: Any, **facts: str) -> dict[str, str]:
    _write(directory / f"{stem}.pem", issued.cert_pem)
    _write(directory / f"{stem}.key", issued.key_pem, private=True)
    return {"certificate": f"{stem}.pem", "key": f"{stem}.key", **facts}


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def refresh_demo_crls(directory: Path) -> list[str]:
    """Publish fresh CRLs of the demo's three CAs into the mirror, dated now.

    The demo moves its clock past a bid deadline weeks ahead, beyond the CRLs written when
    the PKI was made (valid seven days); the SM2 CA's matters to the platform e-seal.
    Returns the URLs refreshed.
    """
    manifest = json.loads((directory / "manifest.json").read_text())
    refreshed = []
    for algorithm in ("rsa", "ecdsa"):
        url = manifest["cas"][algorithm]["crl_url"]
        _write(crl_mirror_path(directory / "crl", url), load_demo_ca(directory, algorithm).crl_der())
        refreshed.append(url)
    url = manifest["cas"]["sm2"]["crl_url"]
    _write(crl_mirror_path(directory / "crl", url), load_demo_sm2_ca(directory).crl().dump())
    refreshed.append(url)
    return refreshed


def load_demo_sm2_ca(directory: Path) -> Sm2DemoCA:
    """The demo's SM2 CA as written by :func:`write_demo_pki`."""
    from asn1crypto import pem as asn1_pem
    from asn1crypto import x509 as asn1_x509

    from ca_interop.gm import load_sm2_private_key

    facts = json.loads((directory / "manifest.json").read_text())["cas"]["sm2"]
    _, _, der = asn1_pem.unarmor((directory / facts["certificate"]).read_bytes())
    return Sm2DemoCA(name=facts["name"], key=load_sm2_private_key((directory / "ca/sm2/ca.key").read_bytes()),
                     cert=asn1_x509.Certificate.load(der), base_url=facts["crl_url"].rsplit("/", 1)[0])


def load_demo_ca(directory: Path, algorithm: str) -> DemoCA:
    """The demo's RSA or ECDSA CA as written by :func:`write_demo_pki`, able to issue again
    (the demo enrols the drawn experts with certificates of their own)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    facts = json.loads((directory / "manifest.json").read_text())["cas"][algorithm]
    return DemoCA(name=facts["name"], algorithm=algorithm,
                  key=load_pem_private_key((directory / f"ca/{algorithm}/ca.key").read_bytes(), None),  # type: ignore[arg-type]
                  cert=x509.load_pem_x509_certificate((directory / facts["certificate"]).read_bytes()),
                  base_url=facts["crl_url"].rsplit("/", 1)[0])
