from __future__ import annotations

from collections.abc import Mapping

from django.http import JsonResponse

from embeddings.engine.base import ModelUnavailable
from embeddings.errors import InputError


class ApiError(Exception):
    def __init__(
        self,
        *,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @classmethod
    def from_input_error(cls, error: InputError, *, field: str) -> ApiError:
        return cls(status=error.status, code=error.code, message=f"{field}: {error}")


def not_provided(message: str) -> ApiError:
    return ApiError(status=400, code="parameter_not_provided", message=message)


def invalid(message: str) -> ApiError:
    return ApiError(status=400, code="parameter_invalid", message=message)


def error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse({"code": error.code, "message": error.message}, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


# What a view may raise to refuse a request; `refusal_response` answers each in the contract.
REFUSALS = (ApiError, InputError, ModelUnavailable)


def refusal_response(error: ApiError | InputError | ModelUnavailable) -> JsonResponse:
    if isinstance(error, InputError):
        error = ApiError(status=error.status, code=error.code, message=str(error))
    elif isinstance(error, ModelUnavailable):
        error = ApiError(status=503, code="model_unavailable", message=str(error))
    return error_response(error)
