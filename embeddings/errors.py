from __future__ import annotations


class InputError(ValueError):
    """Input the caller sent cannot be used; the message is shown to them as it is."""

    status = 400
    code = "parameter_invalid"


class InputTooLarge(InputError):
    status = 413
    code = "file_too_large"
