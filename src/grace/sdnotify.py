"""systemd's notify protocol: ``READY=1`` once serving, ``WATCHDOG=1`` while alive, ``STOPPING=1``.

With ``Type=notify`` and ``WatchdogSec=`` in the unit (``deploy/systemd/grace.service``),
systemd starts dependants only once Grace is ready and restarts it when the pings stop (a
wedged event loop stops them). Without ``NOTIFY_SOCKET`` in the environment every call is a
no-op, so nothing changes outside systemd. The protocol is one datagram per message on a Unix
socket (``@name`` is Linux's abstract namespace); no library is needed for that.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import anyio

__all__ = ("keep_alive", "notify", "watchdog_interval")


def notify(*lines: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``lines`` (``READY=1``, ``STATUS=…``) to systemd; False when not under systemd.

    Never raises: a notification that cannot be sent must not stop Grace.
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or not lines:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(lines).encode("utf-8"), address)
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``), or None when systemd does
    not watch this process (no ``WATCHDOG_USEC``, or ``WATCHDOG_PID`` names another one)."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", "0"))
    except ValueError:
        return None
    if usec <= 0 or (pid and pid != os.getpid()):
        return None
    return usec / 2_000_000


async def keep_alive(interval: float, *, environ: Mapping[str, str] | None = None) -> None:
    """Ping systemd's watchdog every ``interval`` seconds from the event loop, until cancelled:
    if the loop stalls, the pings stop and systemd restarts Grace."""
    while True:
        notify("WATCHDOG=1", environ=environ)
        await anyio.sleep(interval)
