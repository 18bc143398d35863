"""The entry point every benchmark script shares: user mistakes as one line, not a traceback.

A missing dataset or a bad recipe override raises a `DllabError` whose message already says
how to fix it (`dllab data download fashion-mnist`, the valid keys…). Like the `dllab`
command, a benchmark prints that message as one line on stderr and exits with status 2.

    if __name__ == "__main__":
        run_main(main)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

from dllab.errors import DllabError

__all__ = ["run_main"]


def run_main(main: Callable[..., int | None], *args: Any) -> NoReturn:
    """Call `main(*args)` and exit with the status it returns (None is 0).

    A `DllabError` becomes `<script>: error: <message>` on stderr and status 2; Ctrl-C
    becomes `<script>: interrupted` and status 130. Any other exception is a bug in the
    benchmark or the library and keeps its traceback.
    """
    script = sys.argv[0] or "benchmark"
    try:
        status = main(*args)
    except DllabError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        print(f"{script}: error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{script}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)
