"""A national platform stand-in behind the uploader interface, for the reporting tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from trading.reporting_upload import OutgoingBatch, UploadFailed, UploadRejected


@dataclass
class FakeUploader:
    """Accepts every batch, after failing the first ``failures`` tries (or refusing for
    good when ``refuse``); remembers every try."""

    failures: int = 0
    refuse: bool = False
    tries: list[OutgoingBatch] = field(default_factory=list)

    def upload(self, batch: OutgoingBatch) -> str:
        self.tries.append(batch)
        if self.refuse:
            raise UploadRejected("HTTP 400: unknown dataset")
        if len(self.tries) <= self.failures:
            raise UploadFailed("HTTP 503: national platform busy")
        return f"receipt-{len(self.tries)}"

    @property
    def sent_ids(self) -> list[str]:
        return [batch.batch_id for batch in self.tries]
