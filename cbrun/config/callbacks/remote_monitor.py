"""Schema of ``keras.callbacks.RemoteMonitor``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cbrun.config.callbacks.base import CallbackSchema


class RemoteMonitorSchema(CallbackSchema):
    """POST each epoch's logs to an HTTP server.

    Needs the ``requests`` package.

    Args:
        root: The server's root URL. Defaults to ``"http://localhost:9000"``.
        path: Path relative to ``root``. Defaults to
            ``"/publish/epoch/end/"``.
        field: Form field holding the JSON logs. Defaults to ``"data"``.
        headers: Extra HTTP headers. Defaults to None.
        send_as_json: Send the logs as a JSON body. Defaults to False.

    Example:
        ``{type: RemoteMonitor, root: "http://localhost:9000"}``
    """

    keras_class: ClassVar[str | None] = "RemoteMonitor"
    summary: ClassVar[str] = "POST each epoch's logs to an HTTP server."

    type: Literal["RemoteMonitor"]
    root: str = Field(
        "http://localhost:9000",
        pattern=r"^https?://",
        description="The server's root URL (http:// or https://).",
    )
    path: str = Field("/publish/epoch/end/", description="Path under `root`.")
    field: str = Field("data", description="Form field holding the logs.")
    headers: dict[str, str] | None = Field(None, description="Extra HTTP headers.")
    send_as_json: bool = Field(False, description="Send the logs as a JSON body.")
