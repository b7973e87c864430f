"""The app's log file: full tracebacks of failed jobs go here, never to the terminal (the user
sees a plain message; a bug report attaches this file). No Qt.

Location: ``$PAR_STUDIO_LOG_DIR`` if set, else ``<user data folder>/par-studio/logs``
(``~/.local/share/par-studio/logs`` on Linux); ``par-studio.log``, rotated at 1 MB, 3 kept.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOGGER_NAME = "par_studio"
_handler: logging.Handler | None = None


def log_dir() -> Path:
    if os.environ.get("PAR_STUDIO_LOG_DIR"):
        return Path(os.environ["PAR_STUDIO_LOG_DIR"])
    from .outputs import fallback_dir

    return fallback_dir().parent / "logs"


def log_path() -> Path:
    return log_dir() / "par-studio.log"


def logger() -> logging.Logger:
    """The ``par_studio`` logger, writing to :func:`log_path` (re-opened if the folder
    setting changed) and never to stderr. If the file cannot be opened, records are dropped."""
    global _handler
    log = logging.getLogger(LOGGER_NAME)
    log.propagate = False
    path = log_path()
    if _handler is None or getattr(_handler, "baseFilename", None) != str(path.absolute()):
        if _handler is not None:
            log.removeHandler(_handler)
            _handler.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _handler = logging.handlers.RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3,
                                                            encoding="utf-8", errors="backslashreplace")
            _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        except OSError:
            _handler = logging.NullHandler()
        log.addHandler(_handler)
        log.setLevel(logging.INFO)
    return log


def log_exception(context: str, exc: BaseException) -> None:
    """Append ``context`` and the traceback of ``exc`` to the log file."""
    try:
        logger().error("%s", context, exc_info=(type(exc), exc, exc.__traceback__))
    except Exception:  # logging must never break the app
        print(f"par-studio: could not write the log file {log_path()}", file=sys.stderr)


def install_excepthook() -> None:
    """Route exceptions nobody caught (in Qt slots, say) to the log file with their
    traceback; stderr gets one line saying where it is."""

    def hook(kind, exc, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        exc.__traceback__ = tb
        log_exception("unexpected error", exc)
        print(f"par-studio: unexpected error ({kind.__name__}: {exc}); details in {log_path()}",
              file=sys.stderr)

    sys.excepthook = hook
