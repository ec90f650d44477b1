"""Grace's built-in actions, one module per concept.

The registry loads every decorated function listed in ``__all__`` (see
``grace.actions.default_registry``). Reference: ``docs/actions.md``.
"""

from __future__ import annotations

from grace.actions.builtin.backups import backup_file as backup_file
from grace.actions.builtin.backups import restore_file as restore_file
from grace.actions.builtin.code import fix_mechanical as fix_mechanical
from grace.actions.builtin.code import syntax_scan as syntax_scan
from grace.actions.builtin.dotenv import set_env as set_env
from grace.actions.builtin.files import write_file as write_file
from grace.actions.builtin.flags import set_flag as set_flag
from grace.actions.builtin.http import http_check as http_check
from grace.actions.builtin.http import http_request as http_request
from grace.actions.builtin.log import write_log as write_log
from grace.actions.builtin.notify import send_notification as send_notification
from grace.actions.builtin.playbooks import run_playbook as run_playbook
from grace.actions.builtin.ports import prune_ports as prune_ports
from grace.actions.builtin.ports import scan_ports as scan_ports
from grace.actions.builtin.shell import run_shell as run_shell
from grace.actions.builtin.sleep import sleep_for as sleep_for
from grace.actions.builtin.tickets import open_ticket as open_ticket
from grace.actions.builtin.wait import wait_until as wait_until

__all__ = (
    "backup_file",
    "fix_mechanical",
    "http_check",
    "http_request",
    "open_ticket",
    "prune_ports",
    "restore_file",
    "run_playbook",
    "run_shell",
    "scan_ports",
    "send_notification",
    "set_env",
    "set_flag",
    "sleep_for",
    "syntax_scan",
    "wait_until",
    "write_file",
    "write_log",
)
