"""Event publisher on EventBridge."""

from __future__ import annotations

from pydantic import BaseModel

from maas.adapters.aws import client
from maas.events import SOURCE


class EventPublishError(RuntimeError):
    """EventBridge refused an entry."""


class EventBridgePublisher:
    def __init__(self, bus_name: str) -> None:
        self._bus = bus_name
        self._events = client("events")

    def publish(self, detail_type: str, detail: BaseModel) -> None:
        result = self._events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": detail.model_dump_json(),
                    "EventBusName": self._bus,
                }
            ]
        )
        if result.get("FailedEntryCount"):
            raise EventPublishError(f"EventBridge refused {detail_type}: {result['Entries']}")
