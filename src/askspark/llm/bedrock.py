"""AWS Bedrock through boto3's ``bedrock-runtime`` Converse API (one request shape for every model).

``--model bedrock:MODEL_ID`` (e.g. ``bedrock:anthropic.claude-3-5-haiku-20241022-v1:0``). Credentials
come from the usual AWS chain (``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, SSO,
instance roles); the region from ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (default us-east-1).
``ASKSPARK_BEDROCK_ENDPOINT_URL`` overrides the endpoint (VPC endpoints, tests).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from askspark.errors import ProviderError, UsageError, missing_extra
from askspark.llm.base import Completion, Message

DEFAULT_TIMEOUT = 120.0
DEFAULT_REGION = "us-east-1"
_USAGE = "bedrock:MODEL_ID, e.g. bedrock:anthropic.claude-3-5-haiku-20241022-v1:0"
_CREDENTIALS_HINT = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (run `aws sso login` for SSO)"
)
# Fix hints by the error code Bedrock answers with.
_CLIENT_ERROR_HINTS = {
    "AccessDeniedException": "enable access to this model in the Bedrock console for the region, and check "
    "that your IAM identity may call bedrock:InvokeModel",
    "ResourceNotFoundException": "check the model id and that the model exists in the region (AWS_REGION)",
    "ValidationException": "check the model id; some models need an inference profile id "
    "such as 'us.<model id>'",
    "ThrottlingException": "throttled by Bedrock; wait and retry, or request a higher quota",
    "UnrecognizedClientException": _CREDENTIALS_HINT,
    "ExpiredTokenException": "your AWS session expired; refresh your credentials",
}


class BedrockLLM:
    """Bedrock Converse: system messages go to ``system=``, the rest alternate user/assistant."""

    def __init__(self, client: Any, model_id: str) -> None:
        self.id = f"bedrock:{model_id}"
        self.style: Literal["python", "sql"] = "python"
        self.model_id = model_id
        self._client = client

    @property
    def where(self) -> str:
        return f"Bedrock ({self._client.meta.region_name}, {self._client.meta.endpoint_url})"

    def complete(self, messages: list[Message], *, temperature: float, max_tokens: int) -> Completion:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        system = [{"text": m.content} for m in messages if m.role == "system"]
        extra = {"system": system} if system else {}
        try:
            response = self._client.converse(
                modelId=self.model_id,
                messages=_alternating(messages),
                inferenceConfig={"temperature": temperature, "maxTokens": max_tokens},
                **extra,
            )
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ProviderError(
                f"no usable AWS credentials for {self.where}: {exc}", suggestion=_CREDENTIALS_HINT
            ) from exc
        except ClientError as exc:
            raise self._client_error(exc) from exc
        except BotoCoreError as exc:  # connection refused, timeouts, bad endpoint
            raise ProviderError(
                f"cannot reach {self.where}: {exc}",
                suggestion="check AWS_REGION, ASKSPARK_BEDROCK_ENDPOINT_URL if you set it, and your network",
            ) from exc
        content = response.get("output", {}).get("message", {}).get("content", [])
        usage = response.get("usage", {})
        return Completion(
            text="".join(block.get("text", "") for block in content),
            model=self.model_id,
            prompt_tokens=usage.get("inputTokens"),
            completion_tokens=usage.get("outputTokens"),
        )

    def _client_error(self, exc: Any) -> ProviderError:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        return ProviderError(
            f"{self.where} refused model {self.model_id!r}: {code}: {error.get('Message', exc)}",
            suggestion=_CLIENT_ERROR_HINTS.get(code, "check the model id, region and your AWS permissions"),
            aws_error=code,
        )


def _alternating(messages: list[Message]) -> list[dict[str, Any]]:
    """Converse messages, consecutive same-role ones merged (Converse wants them alternating)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if out and out[-1]["role"] == m.role:
            out[-1]["content"][0]["text"] += "\n\n" + m.content
        else:
            out.append({"role": m.role, "content": [{"text": m.content}]})
    return out


def create(name: str, settings: object | None = None) -> BedrockLLM:
    """``bedrock:MODEL_ID`` -> a Converse provider for the region in ``AWS_REGION``."""
    if not name:
        raise UsageError("the bedrock provider needs a model id", suggestion=_USAGE)
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise missing_extra("the bedrock provider", "bedrock", "boto3") from None
    timeout = float(getattr(settings, "llm_timeout_seconds", DEFAULT_TIMEOUT))
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    client = boto3.session.Session().client(
        "bedrock-runtime",
        region_name=region,
        endpoint_url=os.environ.get("ASKSPARK_BEDROCK_ENDPOINT_URL") or None,
        # One retry, as for the other providers; the harness has its own attempts.
        config=Config(
            connect_timeout=min(timeout, 10.0),
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    return BedrockLLM(client, name)
