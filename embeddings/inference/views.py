"""An inference node's side of the tiers: the model's calls, from web and worker processes
whose EMBEDDINGS_BACKEND is `remote`, authenticated by the secret the tiers share. Nothing
here reads the database, so a node needs none."""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from embeddings.api.body_limit import body_refusal
from embeddings.api.errors import REFUSALS, ApiError, refusal_response
from embeddings.conf import embeddings_settings
from embeddings.engine.base import ModelUnavailable
from embeddings.engine.registry import get_model, model_status
from embeddings.inference import calls, wire


def inference_health(request: HttpRequest) -> JsonResponse:
    """Whether the node answers, and its model's state, without loading it: for health checks
    of load balancers and containers, which hold no secret."""
    state, _ = model_status()
    return JsonResponse({"status": "ok", "model": state})


@csrf_exempt
def inference_call(request: HttpRequest, operation: str) -> HttpResponse:
    """GET `info`: the node's model; POST a call (`embeddings.inference.calls`)."""
    config = embeddings_settings()
    try:
        _admit(request, secret=config.model.inference_secret)
        if config.model.backend != "local":
            raise ModelUnavailable(
                "This node's EMBEDDINGS_BACKEND is remote: an inference node runs the model "
                "itself. Set EMBEDDINGS_BACKEND=local on it."
            )
        if operation == "info" and request.method == "GET":
            model = get_model()
            return JsonResponse(
                {
                    "source": model.source,
                    "dimension": model.dimension,
                    "sampling_rate": model.sampling_rate,
                    "modalities": sorted(model.modalities),
                }
            )
        if request.method != "POST":
            raise ApiError(status=405, code="method_not_allowed", message="Use POST.")
        header, arrays = wire.decode(request.body)
        answer = calls.run(operation, header, arrays, model=get_model(), config=config)
    except REFUSALS as error:
        return refusal_response(error)
    return HttpResponse(wire.encode(*answer), content_type=wire.CONTENT_TYPE)


def _admit(request: HttpRequest, *, secret: str) -> None:
    if not secret:
        raise ApiError(
            status=404,
            code="not_found",
            message="This server takes no inference calls: set EMBEDDINGS_INFERENCE_SECRET "
            "on it and on the web and worker processes that call it.",
        )
    given = request.headers.get(wire.SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise ApiError(
            status=401,
            code="unauthorized",
            message=f"The {wire.SECRET_HEADER} header does not match this node's "
            "EMBEDDINGS_INFERENCE_SECRET.",
        )
    refused = body_refusal(request.META)
    if refused is not None:
        raise refused
