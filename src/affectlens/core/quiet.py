"""Keep third-party native log lines off the terminal.

MediaPipe, TFLite and absl write straight to file descriptor 2 from C++ ("INFO: Created
TensorFlow Lite XNNPACK delegate", "W0000 ... inference_feedback_manager.cc"), below Python,
so ``logging`` settings cannot silence them and a one-line error arrives buried under them.
:func:`filter_native_stderr` puts a pipe in front of descriptor 2: a reader thread passes
every line on to the real stderr except those that look like native library logging, which
go to this module's logger at DEBUG (shown with ``-v``). Python's own ``sys.stderr`` is pointed
at the real stderr directly, so our messages, warnings and progress bars never take the detour.

Only the command line installs it: a library must not take over its host's descriptors.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import threading

log = logging.getLogger("affectlens.native")

#: Lines written by native libraries' own loggers: glog/absl ("W0000 00:00:... file.cc:12]"),
#: TFLite's "INFO: ..." banners and absl's pre-initialisation notice.
NATIVE_LOG = re.compile(
    r"^(?:[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]"
    r"|INFO: Created TensorFlow Lite"
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|INFO: Initialized TensorFlow Lite)"
)

_installed: dict[str, object] = {}


def is_native_log(line: str) -> bool:
    """Whether ``line`` is a native library's own log line (not an error meant for the user)."""
    return bool(NATIVE_LOG.match(line))


def filter_native_stderr() -> None:
    """Filter native log lines out of descriptor 2 for the rest of the process (idempotent)."""
    if _installed or not hasattr(os, "pipe"):
        return
    try:
        sys.stderr.flush()
        real_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:  # no descriptor 2 (a daemon), or a platform without dup2: leave it be
        return
    real = io.TextIOWrapper(os.fdopen(real_fd, "wb", buffering=0), write_through=True, errors="replace")
    sys.stderr = real
    for handler in logging.getLogger().handlers:  # handlers made before now hold the old stream
        if isinstance(handler, logging.StreamHandler) and handler.stream is not sys.stdout:
            handler.setStream(real)

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace")
                if is_native_log(line):
                    log.debug("%s", line.rstrip())
                else:
                    real.write(line)

    reader = threading.Thread(target=pump, name="affectlens-stderr", daemon=True)
    reader.start()
    _installed.update(real=real, reader=reader)

    def drain() -> None:
        try:
            os.dup2(real_fd, 2)  # closes the pipe's last writer, so the reader sees the end
        except OSError:
            return
        reader.join(timeout=1.0)

    atexit.register(drain)
