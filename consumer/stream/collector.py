"""The cyclic garbage collector's settings for a long-running worker."""

from __future__ import annotations

import gc

__all__ = ["settle_collector"]

#: The cyclic collector's first-generation threshold is at least this, and this many times the
#: batch size (Python's default is 700 net container allocations).
_GC_YOUNG_MIN = 10_000
_GC_YOUNG_PER_RECORD = 20


def settle_collector(batch_max_messages: int) -> None:
    """Keep the cyclic garbage collector off the hot path of a long-running worker.

    - The heap that lives as long as the process (the model's hundred thousand objects, the
      modules) is frozen: full collections no longer traverse it (about 30 ms each, every few
      batches otherwise).
    - A batch keeps a few container objects per record alive until its outputs are produced,
      more than Python's default young-generation threshold of 700: the collector then ran
      about every 180 records, mostly while the model held the thread, for about 0.45 us a
      record (1 % of a worker's time; `bench/overhead.py`). The threshold is raised above
      what a batch keeps alive, so collections happen only when garbage really accumulates.

    Called again after a model switch: the old model is collected and the new one frozen."""
    gc.unfreeze()
    gc.collect()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(max(_GC_YOUNG_MIN, _GC_YOUNG_PER_RECORD * batch_max_messages), older, oldest)
    gc.freeze()
