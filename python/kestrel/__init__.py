"""Kestrel: GGUF LLM inference (C++20, hand-written quantized SIMD kernels chosen at run time) for Python.

    import kestrel
    with kestrel.Model("stories260K-q4_0.gguf", n_ctx=256) as m:
        print(m.generate("Once upon a time", max_tokens=32, temperature=0))

The engine is Kestrel's C++ library (the same code as the llm-* programs); this package only binds it.
``create_completion`` and ``create_chat_completion`` return the same dict shapes as llama-cpp-python's
``Llama`` methods of those names, so code written for it can switch.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ._core import (
    ArgumentError,
    ContextError,
    Error,
    Generation,
    LoadError,
    TemplateError,
    isa,
)
from ._core import Model as _CoreModel

try:
    from importlib.metadata import version as _version

    __version__ = _version("kestrel")
except Exception:  # run from a build tree without an installed distribution
    __version__ = "unknown"

__all__ = [
    "__version__",
    "Model",
    "Generation",
    "Error",
    "LoadError",
    "ContextError",
    "ArgumentError",
    "TemplateError",
    "isa",
]

Prompt = Union[str, Sequence[int]]
Stop = Union[None, str, Sequence[str]]


def _unsupported(**kwargs: Any) -> None:
    """Options llama-cpp-python has and Kestrel does not: refuse rather than silently ignore them."""
    for name, (value, default) in kwargs.items():
        if value != default:
            raise ArgumentError(f"{name}={value!r} is not supported by Kestrel (leave it at {default!r})")


class Model(_CoreModel):
    """A GGUF model and one session (KV cache) over it. See ``kestrel._core.Model`` for the engine methods."""

    def __call__(self, prompt: Prompt, **kwargs: Any) -> Any:
        """Same as create_completion (llama-cpp-python's ``Llama.__call__``)."""
        return self.create_completion(prompt, **kwargs)

    def _model_name(self, model: Optional[str]) -> str:
        return model if model is not None else self.path

    def create_completion(
        self,
        prompt: Prompt,
        suffix: Optional[str] = None,
        max_tokens: Optional[int] = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        echo: bool = False,
        stop: Stop = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: Optional[int] = None,
        logprobs: Optional[int] = None,
        model: Optional[str] = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """An OpenAI-style text completion, shaped like llama-cpp-python's ``Llama.create_completion``:
        ``{"id", "object": "text_completion", "created", "model", "choices": [{"text", "index",
        "logprobs", "finish_reason"}], "usage": {...}}``, or with stream=True an iterator of such chunks
        (the last one carries the finish_reason). max_tokens None or <= 0: until the end of generation."""
        _unsupported(
            suffix=(suffix, None),
            logprobs=(logprobs, None),
            frequency_penalty=(frequency_penalty, 0.0),
            presence_penalty=(presence_penalty, 0.0),
        )
        gen = self.generation(
            prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            seed=seed,
            stop=stop,
        )
        cid = "cmpl-" + str(uuid.uuid4())
        created = int(time.time())
        name = self._model_name(model)
        prefix = ""
        if echo:
            prefix = prompt if isinstance(prompt, str) else self.detokenize(list(prompt))

        def choice(text: str, finish_reason: Optional[str]) -> Dict[str, Any]:
            return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}

        def chunk(text: str, finish_reason: Optional[str]) -> Dict[str, Any]:
            return {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": name,
                "choices": [choice(text, finish_reason)],
            }

        if stream:

            def chunks() -> Iterator[Dict[str, Any]]:
                if prefix:
                    yield chunk(prefix, None)
                for piece in gen:
                    yield chunk(piece, None)
                yield chunk("", gen.finish_reason)

            return chunks()

        text = gen.read_all()
        n_completion = len(gen.tokens)
        return {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": name,
            "choices": [choice(prefix + text, gen.finish_reason)],
            "usage": {
                "prompt_tokens": gen.n_prompt_tokens,
                "completion_tokens": n_completion,
                "total_tokens": gen.n_prompt_tokens + n_completion,
            },
        }

    def create_chat_completion(
        self,
        messages: List[Dict[str, Any]],
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        stream: bool = False,
        stop: Stop = None,
        seed: Optional[int] = None,
        max_tokens: Optional[int] = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        model: Optional[str] = None,
        tools: Optional[List[Dict[str, Any]]] = None,
        tool_choice: Any = None,
        functions: Optional[List[Dict[str, Any]]] = None,
        function_call: Any = None,
        response_format: Optional[Dict[str, Any]] = None,
        logprobs: Optional[bool] = None,
        top_logprobs: Optional[int] = None,
        chat_template_kwargs: Optional[Dict[str, Any]] = None,
    ) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """An OpenAI-style chat completion, shaped like llama-cpp-python's ``Llama.create_chat_completion``:
        ``{"id", "object": "chat.completion", "created", "model", "choices": [{"index", "message": {"role":
        "assistant", "content"}, "logprobs", "finish_reason"}], "usage"}``, or with stream=True an iterator of
        ``chat.completion.chunk`` dicts (a role delta, content deltas, then an empty delta with the
        finish_reason). The prompt is the model's chat template over `messages` (see apply_chat_template;
        chat_template_kwargs become extra template variables); the reply ends at the template's stop tokens.
        Tool calls, grammars/response formats and logprobs are not supported: they raise ArgumentError."""
        _unsupported(
            tools=(tools, None),
            tool_choice=(tool_choice, None),
            functions=(functions, None),
            function_call=(function_call, None),
            response_format=(response_format, None),
            logprobs=(logprobs, None),
            top_logprobs=(top_logprobs, None),
            frequency_penalty=(frequency_penalty, 0.0),
            presence_penalty=(presence_penalty, 0.0),
        )
        prompt = self.apply_chat_template(messages, add_generation_prompt=True, **(chat_template_kwargs or {}))
        gen = self.generation(
            self.chat_prompt_tokens(prompt),
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            min_p=min_p,
            repeat_penalty=repeat_penalty,
            seed=seed,
            stop=stop,
            stop_tokens=self.chat_stop_tokens,
        )
        cid = "chatcmpl-" + str(uuid.uuid4())
        created = int(time.time())
        name = self._model_name(model)

        if stream:

            def chunk(delta: Dict[str, Any], finish_reason: Optional[str]) -> Dict[str, Any]:
                return {
                    "id": cid,
                    "model": name,
                    "created": created,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                }

            def chunks() -> Iterator[Dict[str, Any]]:
                yield chunk({"role": "assistant"}, None)
                for piece in gen:
                    yield chunk({"content": piece}, None)
                yield chunk({}, gen.finish_reason)

            return chunks()

        text = gen.read_all()
        n_completion = len(gen.tokens)
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": gen.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": gen.n_prompt_tokens,
                "completion_tokens": n_completion,
                "total_tokens": gen.n_prompt_tokens + n_completion,
            },
        }
