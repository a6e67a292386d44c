"""The crash test is collected only with ``THREADLINE_CRASH_TEST=1`` (``make test-crash``).

It needs a PostgreSQL server it may create databases on
(``THREADLINE_CRASH_PG_URL``, default the local trust-auth ``postgres`` user), starts
real ``threadline`` processes and takes about a minute, so plain ``pytest`` skips it.
"""

import os

collect_ignore = (
    [] if os.environ.get("THREADLINE_CRASH_TEST") == "1" else ["test_crash.py"]
)
