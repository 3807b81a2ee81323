"""Type stubs of kestrel._core, the pybind11 module over Kestrel's C++ engine."""

import os
from typing import Any, Dict, Iterator, List, Literal, Optional, Sequence, TypeVar, Union, overload

import numpy as np
import numpy.typing as npt

_M = TypeVar("_M", bound="Model")

_Prompt = Union[str, Sequence[int]]
_Stop = Union[None, str, Sequence[str]]

class Error(Exception):
    """Base class of every error the Kestrel engine raises (its one-line message)."""

class LoadError(Error):
    """The model file could not be loaded (missing, truncated, unsupported architecture or type)."""

class ContextError(Error):
    """The tokens do not fit in the context (prompt longer than n_ctx, eval past n_ctx)."""

class ArgumentError(Error, ValueError):
    """A bad argument: out-of-range ids, negative sizes, wrong types."""

class TemplateError(Error):
    """The chat template failed to render the messages."""

def isa() -> str:
    """The SIMD instruction set the kernels run with: 'scalar', 'avx2', 'avx512' or 'neon'."""

class Generation(Iterator[str]):
    """One generation, read as an iterator of text pieces or all at once with read_all()."""

    def __iter__(self) -> "Generation": ...
    def __next__(self) -> str: ...
    def read_all(self) -> str: ...
    @property
    def finish_reason(self) -> Optional[Literal["stop", "length"]]: ...
    @property
    def n_prompt_tokens(self) -> int: ...
    @property
    def tokens(self) -> List[int]: ...
    @property
    def n_drafted(self) -> int: ...
    @property
    def n_accepted(self) -> int: ...

class Model:
    """A GGUF model and one session (KV cache) over it."""

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        n_ctx: int = 0,
        n_threads: int = 0,
        use_mmap: bool = True,
        n_batch: int = 512,
        cache_type: Literal["f16", "f32"] = "f16",
        chat_template_file: Union[None, str, "os.PathLike[str]"] = None,
        repack: bool = True,
    ) -> None: ...
    def tokenize(self, text: Union[str, bytes], add_special: bool = True, parse_special: bool = False) -> List[int]: ...
    def detokenize(self, ids: Sequence[int], remove_special: bool = False, unparse_special: bool = False) -> str: ...
    def token_to_piece(self, id: int, special: bool = False) -> str: ...
    def eval(self, ids: Sequence[int], logits_all: bool = False) -> None: ...
    @property
    def logits(self) -> Optional[npt.NDArray[np.float32]]:
        """Read-only [rows, n_vocab] view of the last eval's logits (no copy); None before the first eval."""
    def reset(self) -> None: ...
    def generation(
        self,
        prompt: _Prompt,
        *,
        max_tokens: Optional[int] = None,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        repeat_last_n: int = 64,
        seed: Optional[int] = None,
        stop: _Stop = None,
        stop_tokens: Optional[Sequence[int]] = None,
        lookup: int = 0,
    ) -> Generation: ...
    @overload
    def generate(
        self,
        prompt: _Prompt,
        *,
        max_tokens: Optional[int] = None,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        repeat_last_n: int = 64,
        seed: Optional[int] = None,
        stop: _Stop = None,
        stop_tokens: Optional[Sequence[int]] = None,
        stream: Literal[False] = False,
        lookup: int = 0,
    ) -> str: ...
    @overload
    def generate(
        self,
        prompt: _Prompt,
        *,
        max_tokens: Optional[int] = None,
        temperature: float = 0.8,
        top_k: int = 40,
        top_p: float = 0.95,
        min_p: float = 0.05,
        repeat_penalty: float = 1.0,
        repeat_last_n: int = 64,
        seed: Optional[int] = None,
        stop: _Stop = None,
        stop_tokens: Optional[Sequence[int]] = None,
        stream: Literal[True],
        lookup: int = 0,
    ) -> Generation: ...
    @property
    def metadata(self) -> Dict[str, Any]: ...
    @property
    def n_ctx(self) -> int: ...
    @property
    def n_past(self) -> int: ...
    @property
    def n_vocab(self) -> int: ...
    @property
    def n_ctx_train(self) -> int: ...
    @property
    def path(self) -> str: ...
    def token_bos(self) -> int: ...
    def token_eos(self) -> int: ...
    def token_eot(self) -> int: ...
    def apply_chat_template(
        self, messages: Sequence[Dict[str, Any]], add_generation_prompt: bool = True, **kwargs: Any
    ) -> str: ...
    def chat_prompt_tokens(self, prompt: str) -> List[int]: ...
    @property
    def chat_stop_tokens(self) -> List[int]: ...
    @property
    def chat_template(self) -> str: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self: _M) -> _M: ...
    def __exit__(self, *args: Any) -> None: ...
