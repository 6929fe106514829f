"""What can go wrong with an envelope. Every failure the package raises is one of these
(or ``OSError`` from the files themselves); they are :class:`core.errors.BidhallError`\\ s,
so the web layer turns them into problems without knowing about envelopes."""

from __future__ import annotations

from core.errors import BidhallError, InvalidInput


class EnvelopeError(BidhallError):
    """Base of the envelope errors."""

    code = "envelope-error"
    title = "The sealed envelope cannot be used"


class EnvelopeFormatError(EnvelopeError, InvalidInput, ValueError):
    """Not an envelope we accept: garbage, plaintext, truncated, a bogus length, the wrong
    CMS content type or an algorithm the platform does not accept."""

    code = "envelope-format"
    title = "Not a sealed envelope"


class NotARecipient(EnvelopeError):
    """The envelope is not sealed to this certificate, or the key is not the certificate's."""

    code = "envelope-not-a-recipient"
    title = "Not a recipient of the sealed envelope"


class EnvelopeTampered(EnvelopeError):
    """The envelope was altered or damaged: its content key does not unwrap or its
    authentication tag does not verify. No plaintext is released."""

    code = "envelope-tampered"
    title = "The sealed envelope was altered or damaged"


class RecipientRefused(EnvelopeError, InvalidInput, ValueError):
    """A certificate cannot be a recipient: its key usage forbids encryption, or its key
    type or size is not supported."""

    code = "envelope-recipient-refused"
    title = "The certificate cannot be an envelope recipient"
