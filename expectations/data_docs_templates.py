"""Data Docs templates compiled once per process, not once per page.

GX renders every Data Docs page through a new `DefaultJinjaView`, and each view makes a new Jinja
`Environment`: every template (page, section, component...) is parsed and compiled again for each
page. That was about a fifth of a small delivery's ingest (a validation and its pages), and it is
paid by every batch of the chain. Jinja's bytecode cache is the documented way to skip the
compilation: the views share one in-memory cache, keyed by template name and source, so a template
is compiled once per process and a changed template (another GX version) compiles anew.
"""
from __future__ import annotations

import threading
from typing import Any

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _MemoryBytecodeCache(BytecodeCache):
    """Compiled templates kept in this process's memory (Jinja ships file and memcached caches)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


_CACHE = _MemoryBytecodeCache()
_installed = threading.Lock()


def compile_templates_once() -> None:
    """Give every GX Data Docs view made from now on the process's shared bytecode cache."""
    from great_expectations.render.view.view import DefaultJinjaView

    with _installed:
        if getattr(DefaultJinjaView, "_kcdata_cached", False):
            return
        made = DefaultJinjaView.__init__

        def __init__(self: DefaultJinjaView, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            self.env.bytecode_cache = _CACHE

        DefaultJinjaView.__init__ = __init__
        DefaultJinjaView._kcdata_cached = True
