from __future__ import annotations

from dataclasses import dataclass

from embeddings.conf import embeddings_settings

_IMAGE_TOKENS_MARK = "#image-tokens="


@dataclass(frozen=True)
class VectorSpace:
    """What makes vectors comparable: the model, and the token budget its images get (another
    budget is another input, so another vector). `key` names it where vectors are stored."""

    source: str
    image_tokens: int | None = None  # None: the model's own default

    @property
    def key(self) -> str:
        if self.image_tokens is None:
            return self.source
        return f"{self.source}{_IMAGE_TOKENS_MARK}{self.image_tokens}"

    @classmethod
    def from_key(cls, key: str) -> VectorSpace:
        source, mark, tokens = key.rpartition(_IMAGE_TOKENS_MARK)
        if mark and tokens.isdigit():
            return cls(source=source, image_tokens=int(tokens))
        return cls(source=key)


def configured_space() -> VectorSpace:
    """The space new vectors are made in."""
    config = embeddings_settings()
    return VectorSpace(source=config.model.source, image_tokens=config.model.image_tokens)
