"""Child processes a sandbox runs (a JVM): found, started, and stopped for good."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def java() -> str:
    """The ``java`` of ``$JAVA_HOME``, else the one on ``PATH``; OSError if there is none."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home, "bin", "java")) if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise OSError("java not found (set JAVA_HOME or put java on PATH)")
    return candidate


class ChildProcess:
    """A child whose output (stdout and stderr) is read line by line."""

    def __init__(self, command: list[str]) -> None:
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self._process.stdout is not None
        self._output = self._process.stdout

    def first_line(self) -> str:
        """The child's first line of output; everything it wrote if it has exited."""
        line = self._output.readline()
        if self._process.poll() is not None:
            line += self._output.read()
        return line

    def stop(self, timeout: float = 10) -> None:
        """Terminate the child, kill it if it is still there after ``timeout`` seconds."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._output.close()
