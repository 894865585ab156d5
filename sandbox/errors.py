"""Errors of the sandbox package."""


class SandboxError(RuntimeError):
    """The sandbox could not do what was asked."""


class SandboxUnavailable(SandboxError):
    """No sandbox of the requested kind can run here (with how to get one)."""
