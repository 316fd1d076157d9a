"""Recording and analysis: what ran where, when, and how parallel it really was.

>>> import chainlab
>>> with chainlab.record() as rec:                       # doctest: +SKIP
...     chain.invoke(x)
>>> rec.speedup, rec.critical_path, rec.plot()           # doctest: +SKIP
>>> chainlab.compare(chain, x).plot()                    # doctest: +SKIP

* ``recording`` - :func:`record` / :class:`Recording` (a span listener), :class:`SpanRecord`
* ``analysis``  - wall time, work, critical path, speedup, efficiency, ceiling, lanes
* ``compare``   - :func:`compare`: the same chain sequential vs parallel
* ``export``    - Chrome trace / Perfetto JSON

matplotlib is imported only when a plot is drawn.
"""

from chainlab.trace.analysis import Analysis, analyse
from chainlab.trace.compare import Comparison, acompare, compare
from chainlab.trace.recording import Recording, record
from chainlab.trace.records import SpanRecord

__all__ = [
    "Analysis",
    "Comparison",
    "Recording",
    "SpanRecord",
    "acompare",
    "analyse",
    "compare",
    "record",
]
