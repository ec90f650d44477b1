"""``python -m grace.sdk.deliver``: send a spool's leftovers to Grace now.

```text
python -m grace.sdk.deliver --spool-dir ~/.cache/grace-sdk/miner --url http://127.0.0.1:8000
```

It takes over the spool files of processes that have exited (live ones deliver their own),
sends them oldest first and exits 0 when nothing is left, 1 when some reports are still
waiting (Grace unreachable; they stay in the spool), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from grace.sdk._client import Client

__all__ = ("main",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m grace.sdk.deliver",
        description="Deliver the reports waiting in a Grace SDK spool directory.",
    )
    parser.add_argument("--spool-dir", required=True, help="the spool directory to drain")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="Grace's base URL")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="give up after this many seconds (default 30)"
    )
    parser.add_argument(
        "--request-timeout", type=float, default=5.0, help="seconds per request (default 5)"
    )
    args = parser.parse_args(argv)
    try:
        client = Client("", url=args.url, spool_dir=args.spool_dir, timeout_s=args.request_timeout)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    delivered = client.flush(args.timeout)
    client.close(0)
    stats = client.stats()
    print(
        f"delivered {stats['delivered']}, rejected {stats['rejected']} "
        f"(see spool-rejected.jsonl), left {stats['pending']} in {args.spool_dir}"
    )
    return 0 if delivered and not stats["pending"] else 1


if __name__ == "__main__":
    sys.exit(main())
