"""SNS signing certificates, kept in a local folder and never fetched at request time.

Amazon signs SNS messages with a certificate it names by URL (`SigningCertURL`). Fetching that
URL when a message arrives would let the message choose what we trust and would make the service
depend on the internet at run time; so the operator places the certificates in a folder
(`Settings.webhook_sns_certificates_dir`, one PEM file each, named as the last part of the URL)
and a message naming any other certificate is refused. Amazon rotates them rarely and announces
it; a refused message is counted (`unknown-certificate`) and SNS retries it, so a rotation shows
as refusals until the new file is added, and nothing is lost meanwhile if it is added within SNS's
retry period.

A file is read when first needed and again when it changes; an expired certificate counts as
absent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from cryptography import x509

from streams.core.clock import Clock

__all__ = ["SnsCertificates"]

log = logging.getLogger(__name__)


class SnsCertificates:
    def __init__(self, folder: Path, clock: Clock) -> None:
        self._folder = folder
        self._clock = clock
        self._cache: dict[str, tuple[float, x509.Certificate]] = {}

    def __call__(self, name: str) -> x509.Certificate | None:
        """The certificate of that file name, or None (absent, unreadable or expired)."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = self._folder / name
        try:
            stamp = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(name)
        if cached is None or cached[0] != stamp:
            try:
                certificate = x509.load_pem_x509_certificate(path.read_bytes())
            except (OSError, ValueError) as exc:
                log.warning("SNS certificate %s cannot be read: %s", name, exc)
                return None
            cached = (stamp, certificate)
            self._cache[name] = cached
        certificate = cached[1]
        if not _current(certificate, self._clock.now()):
            log.warning("SNS certificate %s is not valid now", name)
            return None
        return certificate


def _current(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
