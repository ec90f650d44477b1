"""Grace's SDK for applications: report exceptions (and error logs) to Grace, losing none.

```python
import grace.sdk

grace.sdk.install(service="miner", url="http://127.0.0.1:8000")
import faiss  # ModuleNotFoundError → one `exception` event with attributes.module == "faiss"
```

It runs inside your application, so it uses the standard library only and imports nothing else
from Grace. Reports are sent by a background thread as ``POST {url}/api/events`` with the body
``{"event": {...}, "event_key": "<hex>"}``; while Grace is unreachable they wait in a local
spool and are delivered later, each with the key it was born with (a resend is a duplicate to
Grace, never a second event). ``python -m grace.sdk.deliver`` drains a spool by hand.
"""

from __future__ import annotations

from grace.sdk._client import Client as Client
from grace.sdk._client import default_spool_dir as default_spool_dir
from grace.sdk._hooks import GraceLogHandler as GraceLogHandler
from grace.sdk._hooks import get_client as get_client
from grace.sdk._hooks import install as install
from grace.sdk._hooks import install_asyncio_handler as install_asyncio_handler
from grace.sdk._hooks import uninstall as uninstall
from grace.sdk._report import SDK_VERSION as SDK_VERSION

__all__ = (
    "SDK_VERSION",
    "Client",
    "GraceLogHandler",
    "default_spool_dir",
    "get_client",
    "install",
    "install_asyncio_handler",
    "uninstall",
)
