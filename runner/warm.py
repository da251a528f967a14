"""Workflows kept warm between actions: the next action on a case skips rebuilding its workflow from JSON.

Every save (Engine.dump_state) leaves the workflow here under the exact text it was saved as. An action that
then reads the case's row takes the workflow out again only when the row holds that very text, so what it
gets is what loading the row would build: a save that was rolled back, a newer save by another process, or
any change made outside the engine leaves a different text in the row and the workflow is rebuilt from it.
An entry is taken, never shared: two actions of one process on one case cannot both hold it (the second
rebuilds from the row). Reads never take from here; only the write path does (Runtime.open(warm=True)).

Bounded (least recently saved first out), per process; nothing here is needed for correctness."""

from __future__ import annotations

import threading
from collections import OrderedDict

WARM_CASES = 64  # workflows kept per process; 0 turns the cache off (a test compares runs with it off)


class WarmWorkflows:
    def __init__(self, size: int | None = None):
        self.size = WARM_CASES if size is None else size
        self._entries: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def put(self, state_json: str, wf) -> None:
        """WF was just saved as STATE_JSON."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[state_json] = wf
            self._entries.move_to_end(state_json)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def take(self, state_json: str, spec):
        """The workflow saved as exactly STATE_JSON on SPEC (its version's spec objects), removed from the
        cache; None when there is none."""
        with self._lock:
            wf = self._entries.pop(state_json, None)
            if wf is None or wf.spec is not spec:
                self.misses += 1
                return None
            self.hits += 1
            return wf
