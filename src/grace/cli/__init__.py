"""The ``grace`` command line (typer). An adapter only: it builds settings and calls the engine."""

from __future__ import annotations

import sys

__all__ = ("main",)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; Grace's own errors print one clear line and a hint, with a documented exit code."""
    import typer

    from grace.cli import (  # noqa: F401 - registers commands
        _boot,
        _explain,
        _govern,
        _inspect,
        _ports,
        _serve,
        _services,
        _status,
        _tokens,
        _watchdog,
    )
    from grace.cli._app import app
    from grace.errors import GraceError

    try:
        result = app(args=argv, prog_name="grace", standalone_mode=False)
    except GraceError as exc:
        sys.stderr.write(f"error: {exc}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.TyperException as exc:
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"Error: {exc.format_message()}\n")
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    # Without standalone mode, an Exit(code) raised by a command comes back as the return value.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
